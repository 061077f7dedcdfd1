//! A setting changed at run time: its JSON value replaces the configuration file's.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_setting")]
pub struct Model {
    /// The configuration table it replaces (`webhook`, …).
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub value: String,
    pub changed_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
