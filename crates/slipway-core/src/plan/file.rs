//! Saved plans (`plan -out FILE`): what `apply FILE` carries out, exactly.
//!
//! A saved plan records the plan, the environment directory, the variable arguments and a
//! digest of the configuration. `apply FILE` refuses it when the configuration changed or when
//! the state moved on (lineage/serial, see [`super::Plan::check_fresh`]). The file may hold
//! secrets (planned values), so it is written owner-readable only, like state.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Plan;
use crate::config::vars::CliVar;

/// 2: a change's configuration is kept by its differences from the planned object.
pub const FORMAT: &str = "slipway-plan/2";

#[derive(Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    pub environment_dir: PathBuf,
    pub vars: Vec<CliVar>,
    pub config_digest: String,
    pub plan: Plan,
}

pub fn write(path: &Path, saved: &SavedPlan) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let bytes = serde_json::to_vec(saved).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub fn read(path: &Path) -> Result<SavedPlan, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read plan {}: {e}", path.display()))?;
    // The format first, so that a plan written by another version is refused as such rather
    // than as a malformed file.
    #[derive(Deserialize)]
    struct Format {
        format: String,
    }
    let not_a_plan =
        |e: serde_json::Error| format!("{} is not a slipway plan file: {e}", path.display());
    let format = serde_json::from_slice::<Format>(&bytes).map_err(not_a_plan)?.format;
    if format != FORMAT {
        return Err(format!(
            "{} is a plan of format {format}, this slipway reads {FORMAT}",
            path.display(),
        ));
    }
    serde_json::from_slice(&bytes).map_err(not_a_plan)
}

/// True when the path looks like a saved plan rather than an environment directory.
pub fn is_plan_file(path: &Path) -> bool {
    path.is_file()
}
