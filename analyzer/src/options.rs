//! Typed options from the command line, validated. Bad values are usage
//! errors naming the flag.

use crate::cli::{GateFlags, MechFlags, ModeArg, ReplayFlags, ScreenFlags, StageAFlags};
use crate::error::UsageError;
use crate::model::{GateOptions, GateRule, MechanismOptions, Mode, StageAOptions};
use crate::parse::LoadOptions;

fn finite(flag: &'static str, x: f64) -> Result<f64, UsageError> {
    if x.is_finite() && crate::exact::Ratio::of_f64(x).is_none() {
        return Err(UsageError::BadValue {
            flag,
            problem: format!("{x} has too many digits for an exact threshold"),
        });
    }
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
        finite(flag, x)
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

/// Gate thresholds; `mode` picks the active set. `screen` is `None` for
/// `verdict`, which has no screen flags. A threshold flag of the other mode
/// does nothing, so it is an error.
pub fn gates(
    screen: Option<&ScreenFlags>,
    replay: &ReplayFlags,
    f: &GateFlags,
    mode: ModeArg,
) -> Result<GateOptions, UsageError> {
    let unused = |flag: &'static str, set: bool| -> Result<(), UsageError> {
        if set {
            Err(UsageError::BadValue {
                flag,
                problem: format!(
                    "does nothing with --mode {}; drop it or change --mode",
                    if mode == ModeArg::Screen {
                        "screen"
                    } else {
                        "replay"
                    }
                ),
            })
        } else {
            Ok(())
        }
    };
    let sf = screen.cloned().unwrap_or_default();
    match mode {
        ModeArg::Screen => {
            unused("--replay-guard-r0", replay.replay_guard_r0.is_some())?;
            unused("--replay-main-r0", replay.replay_main_r0.is_some())?;
            unused("--replay-main-r50", replay.replay_main_r50.is_some())?;
            unused(
                "--replay-cross128-r90",
                replay.replay_cross128_r90.is_some(),
            )?;
            unused("--replay-runs", replay.replay_runs.is_some())?;
        }
        ModeArg::Replay => {
            unused("--screen-guard-r0", sf.screen_guard_r0.is_some())?;
            unused("--screen-main-r0", sf.screen_main_r0.is_some())?;
            unused("--screen-main-r50", sf.screen_main_r50.is_some())?;
            unused("--screen-cross128-r90", sf.screen_cross128_r90.is_some())?;
            unused("--screen-runs", sf.screen_runs.is_some())?;
        }
    }
    let rule =
        |lane: &str, flag: &'static str, x: Option<f64>, d: f64| -> Result<GateRule, UsageError> {
            Ok(GateRule {
                lane: lane.to_owned(),
                min_change_pct: finite(flag, x.unwrap_or(d))?,
            })
        };
    if f.bootstrap == 0 {
        return Err(UsageError::BadValue {
            flag: "--bootstrap",
            problem: "needs at least 1 resample (default 2000)".into(),
        });
    }
    let d = GateOptions::default();
    let (s, r) = (&d.screen, &d.replay);
    Ok(GateOptions {
        mode: match mode {
            ModeArg::Screen => Mode::Screen,
            ModeArg::Replay => Mode::Replay,
        },
        screen: vec![
            rule(
                "guard_r0",
                "--screen-guard-r0",
                sf.screen_guard_r0,
                s[0].min_change_pct,
            )?,
            rule(
                "main_r0",
                "--screen-main-r0",
                sf.screen_main_r0,
                s[1].min_change_pct,
            )?,
            rule(
                "main_r50",
                "--screen-main-r50",
                sf.screen_main_r50,
                s[2].min_change_pct,
            )?,
            rule(
                "cross128_r90",
                "--screen-cross128-r90",
                sf.screen_cross128_r90,
                s[3].min_change_pct,
            )?,
        ],
        replay: vec![
            rule(
                "guard_r0",
                "--replay-guard-r0",
                replay.replay_guard_r0,
                r[0].min_change_pct,
            )?,
            rule(
                "main_r0",
                "--replay-main-r0",
                replay.replay_main_r0,
                r[1].min_change_pct,
            )?,
            rule(
                "main_r50",
                "--replay-main-r50",
                replay.replay_main_r50,
                r[2].min_change_pct,
            )?,
            rule(
                "cross128_r90",
                "--replay-cross128-r90",
                replay.replay_cross128_r90,
                r[3].min_change_pct,
            )?,
        ],
        screen_runs: sf.screen_runs.unwrap_or(d.screen_runs),
        replay_runs: replay.replay_runs.unwrap_or(d.replay_runs),
        bootstrap: f.bootstrap,
        seed: f.seed,
        rule: match f.rule {
            crate::cli::RuleArg::Median => crate::model::GateMethod::Median,
            crate::cli::RuleArg::Paired => crate::model::GateMethod::Paired,
        },
    })
}
