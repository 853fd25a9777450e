//! Typed options from the command line, validated. Bad values are usage
//! errors naming the flag.

use crate::cli::{GateFlags, MechFlags, ModeArg, StageAFlags};
use crate::error::UsageError;
use crate::model::{GateOptions, GateRule, MechanismOptions, Mode, StageAOptions};
use crate::parse::LoadOptions;

fn finite(flag: &'static str, x: f64) -> Result<f64, UsageError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(UsageError::BadValue {
            flag,
            problem: format!("{x} is not a finite number"),
        })
    }
}

fn positive(flag: &'static str, x: f64) -> Result<f64, UsageError> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(UsageError::BadValue {
            flag,
            problem: format!("{x} must be a positive number"),
        })
    }
}

/// `--lane` and `--variant`.
pub fn load_options(lanes: &[String], variant: Option<String>) -> Result<LoadOptions, UsageError> {
    Ok(LoadOptions {
        lane_overrides: lanes
            .iter()
            .map(|s| LoadOptions::parse_lane_flag(s))
            .collect::<Result<_, _>>()?,
        variant,
    })
}

/// Stage A thresholds.
pub fn stage_a(f: &StageAFlags) -> Result<StageAOptions, UsageError> {
    Ok(StageAOptions {
        min_ratio: finite("--stage-a-min-ratio", f.stage_a_min_ratio)?,
        separation: positive("--stage-a-separation", f.stage_a_separation)?,
        runs: f.stage_a_runs,
    })
}

/// Mechanism thresholds.
pub fn mechanism(f: &MechFlags) -> Result<MechanismOptions, UsageError> {
    Ok(MechanismOptions {
        skip_min: f.mech_skip_min,
        promote_min: finite("--mech-promote-min", f.mech_promote_min)?,
        reset_factor: finite("--mech-reset-factor", f.mech_reset_factor)?,
        separation_factor: positive("--mech-separation-factor", f.mech_separation_factor)?,
    })
}

/// Gate thresholds; `mode` picks the active set.
pub fn gates(f: &GateFlags, mode: ModeArg) -> Result<GateOptions, UsageError> {
    let rule = |lane: &str, flag: &'static str, x: f64| -> Result<GateRule, UsageError> {
        Ok(GateRule {
            lane: lane.to_owned(),
            min_change_pct: finite(flag, x)?,
        })
    };
    if f.bootstrap == 0 {
        return Err(UsageError::BadValue {
            flag: "--bootstrap",
            problem: "needs at least 1 resample (default 2000)".into(),
        });
    }
    Ok(GateOptions {
        mode: match mode {
            ModeArg::Screen => Mode::Screen,
            ModeArg::Replay => Mode::Replay,
        },
        screen: vec![
            rule("guard_r0", "--screen-guard-r0", f.screen_guard_r0)?,
            rule("main_r0", "--screen-main-r0", f.screen_main_r0)?,
            rule("main_r50", "--screen-main-r50", f.screen_main_r50)?,
            rule(
                "cross128_r90",
                "--screen-cross128-r90",
                f.screen_cross128_r90,
            )?,
        ],
        replay: vec![
            rule("guard_r0", "--replay-guard-r0", f.replay_guard_r0)?,
            rule("main_r0", "--replay-main-r0", f.replay_main_r0)?,
            rule("main_r50", "--replay-main-r50", f.replay_main_r50)?,
            rule(
                "cross128_r90",
                "--replay-cross128-r90",
                f.replay_cross128_r90,
            )?,
        ],
        screen_runs: f.screen_runs,
        replay_runs: f.replay_runs,
        bootstrap: f.bootstrap,
        seed: f.seed,
    })
}
