//! `parley [--config FILE] [serve | usersig <UserID> [--expire SECONDS] | migrate]`

use std::path::PathBuf;
use std::process::ExitCode;

use parley::config::Config;

const USAGE: &str = "usage: parley [--config FILE] [serve | usersig <UserID> [--expire SECONDS] | migrate]";

enum Command {
    Serve,
    UserSig { user: String, expire: i64 },
    Migrate,
}

fn parse(args: &[String]) -> Result<(Option<PathBuf>, Command), String> {
    let mut config = None;
    let mut rest = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--config" | "-c" => config = Some(PathBuf::from(iter.next().ok_or("--config needs a file")?)),
            "--help" | "-h" => return Err(USAGE.into()),
            _ => rest.push(arg.clone()),
        }
    }
    let command = match rest.first().map(String::as_str) {
        None | Some("serve") => Command::Serve,
        Some("migrate") => Command::Migrate,
        Some("usersig") => {
            let user = rest.get(1).ok_or("usersig needs a UserID")?.clone();
            let expire = match (rest.get(2).map(String::as_str), rest.get(3)) {
                (None, _) => parley::auth::usersig::DEFAULT_EXPIRE_SECS,
                (Some("--expire"), Some(secs)) => secs.parse().map_err(|_| format!("bad --expire {secs:?}"))?,
                _ => return Err(USAGE.into()),
            };
            Command::UserSig { user, expire }
        }
        Some(other) => return Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    Ok((config, command))
}

fn main() -> ExitCode {
    parley::stats::logging::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config_path, command) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Serve => actix_web::rt::System::new().block_on(parley::app::serve(config)).map_err(|e| e.to_string()),
        Command::Migrate => actix_web::rt::System::new()
            .block_on(parley::store::open(&config))
            .map(|_| println!("migrations applied"))
            .map_err(|e| e.to_string()),
        Command::UserSig { user, expire } => config.credentials().map_err(|e| e.to_string()).map(|c| {
            let auth = parley::auth::AppAuth::new(c.sdkappid, &c.secret_key, &config.admins);
            println!("{}", auth.generate(&user, expire));
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parley: {e}");
            ExitCode::FAILURE
        }
    }
}
