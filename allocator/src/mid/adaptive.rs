//! B77 adaptive gate: the per-class state machine, as pure functions over
//! the three bytes of one class (`hot`, `probe_tick`, `cooldown`) so it can
//! be tested in any build. The callers in `local_stack.rs` pass the knob
//! constants, which the optimiser folds in.
//!
//! - push attempt: cooldown > 0 → decrement, skip; hot == 0 → only one
//!   attempt in 2^probe_shift (by probe_tick) goes on, the rest skip;
//! - B58 refusal (page has pending remote frees) → cooldown = COOLDOWN;
//! - successful push → hot + 1 (saturating at 255);
//! - pop hit → hot + 2 (saturating);
//! - stale_remote / stale_unowned / pop_gated_remote → hot = 0, cooldown = COOLDOWN.

/// Outcome of the push gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Go on with the normal push body.
    Allow,
    /// Skipped: the class is cooling down after a remote/stale event.
    SkipCooldown,
    /// Skipped: the class is cold and this attempt is not a probe.
    SkipCold,
}

/// Decide one push attempt of a class.
#[inline(always)]
pub fn gate(hot: u8, probe_tick: &mut u8, cooldown: &mut u8, probe_shift: u32) -> Gate {
    if *cooldown > 0 {
        *cooldown -= 1;
        return Gate::SkipCooldown;
    }
    if hot == 0 {
        let t = *probe_tick;
        *probe_tick = t.wrapping_add(1);
        // 256 is a multiple of 2^probe_shift (shift ≤ 7), so wrapping keeps the rate exact.
        if t & ((1u8 << probe_shift).wrapping_sub(1)) != 0 {
            return Gate::SkipCold;
        }
    }
    Gate::Allow
}

/// A push went through.
#[inline(always)]
pub fn on_push(hot: &mut u8) {
    *hot = hot.saturating_add(1);
}

/// A pop returned an object of a page we still own.
#[inline(always)]
pub fn on_hit(hot: &mut u8) {
    *hot = hot.saturating_add(2);
}

/// The B58 gate refused a push.
#[inline(always)]
pub fn on_push_gated(cooldown: &mut u8, cooldown_len: u8) {
    *cooldown = cooldown_len;
}

/// A stale or gated pop event.
#[inline(always)]
pub fn on_reset(hot: &mut u8, cooldown: &mut u8, cooldown_len: u8) {
    *hot = 0;
    *cooldown = cooldown_len;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cold_class_lets_exactly_one_in_2_pow_shift_through() {
        for shift in 0..=7u32 {
            let (mut tick, mut cd) = (0u8, 0u8);
            let attempts = 1024;
            let allowed = (0..attempts)
                .filter(|_| gate(0, &mut tick, &mut cd, shift) == Gate::Allow)
                .count();
            assert_eq!(allowed, attempts >> shift, "shift {shift}");
        }
        // The first attempt of a cold class is a probe.
        let (mut tick, mut cd) = (0u8, 0u8);
        assert_eq!(gate(0, &mut tick, &mut cd, 3), Gate::Allow);
        for _ in 0..7 {
            assert_eq!(gate(0, &mut tick, &mut cd, 3), Gate::SkipCold);
        }
        assert_eq!(gate(0, &mut tick, &mut cd, 3), Gate::Allow);
    }

    #[test]
    fn hot_class_is_never_probed() {
        let (mut tick, mut cd) = (0u8, 0u8);
        for _ in 0..100 {
            assert_eq!(gate(1, &mut tick, &mut cd, 7), Gate::Allow);
        }
        assert_eq!(tick, 0);
    }

    #[test]
    fn cooldown_skips_exactly_cooldown_pushes() {
        for len in [1u8, 2, 64, 255] {
            let (mut hot, mut tick, mut cd) = (200u8, 0u8, 0u8);
            on_reset(&mut hot, &mut cd, len);
            assert_eq!(hot, 0);
            let mut skipped = 0;
            while gate(hot, &mut tick, &mut cd, 0) == Gate::SkipCooldown {
                skipped += 1;
            }
            assert_eq!(skipped, len as usize);
            // Cooldown also applies to a hot class after a B58 refusal.
            let mut cd2 = 0u8;
            on_push_gated(&mut cd2, len);
            let mut t2 = 0u8;
            let n = (0..300)
                .take_while(|_| gate(255, &mut t2, &mut cd2, 3) == Gate::SkipCooldown)
                .count();
            assert_eq!(n, len as usize);
        }
    }

    #[test]
    fn hot_saturates_and_promotes_by_one_and_two() {
        let mut hot = 0u8;
        on_push(&mut hot);
        assert_eq!(hot, 1);
        on_hit(&mut hot);
        assert_eq!(hot, 3);
        hot = 254;
        on_hit(&mut hot);
        assert_eq!(hot, 255);
        on_hit(&mut hot);
        on_push(&mut hot);
        assert_eq!(hot, 255);
    }

    #[test]
    fn every_reset_event_cools_the_class() {
        let (mut hot, mut cd) = (255u8, 0u8);
        on_reset(&mut hot, &mut cd, 64);
        assert_eq!((hot, cd), (0, 64));
        // A reset while already cold and cooling restarts the cooldown.
        cd = 3;
        on_reset(&mut hot, &mut cd, 64);
        assert_eq!((hot, cd), (0, 64));
    }
}
