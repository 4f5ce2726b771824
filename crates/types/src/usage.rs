//! What a run consumed from metered services (LLM tokens and their cost): reported by nodes,
//! summed per step and per run, and kept in the run history.

use serde::{Deserialize, Serialize};

/// Tokens and cost. Cost is in millionths of a US dollar, an integer so that sums are exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Tokens sent to a model (prompt).
    pub input_tokens: u64,
    /// Tokens a model produced (completion).
    pub output_tokens: u64,
    /// What the calls cost, in micro-USD (1 USD = 1,000,000).
    pub cost_micro_usd: u64,
}

impl Usage {
    /// Nothing consumed.
    pub const ZERO: Usage = Usage {
        input_tokens: 0,
        output_tokens: 0,
        cost_micro_usd: 0,
    };

    /// Whether nothing was consumed.
    pub fn is_zero(&self) -> bool {
        *self == Usage::ZERO
    }

    /// Both together; saturates instead of overflowing.
    #[must_use]
    pub fn plus(self, other: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
            cost_micro_usd: self.cost_micro_usd.saturating_add(other.cost_micro_usd),
        }
    }

    /// The cost in US dollars, for display (sums stay integers).
    pub fn cost_usd(&self) -> f64 {
        self.cost_micro_usd as f64 / 1_000_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_saturate_and_cost_converts() {
        let a = Usage {
            input_tokens: 10,
            output_tokens: 5,
            cost_micro_usd: 1_500,
        };
        let b = a.plus(a);
        assert_eq!(b.input_tokens, 20);
        assert_eq!(b.output_tokens, 10);
        assert!((b.cost_usd() - 0.003).abs() < 1e-12);
        let max = Usage {
            input_tokens: u64::MAX,
            ..Usage::ZERO
        };
        assert_eq!(max.plus(a).input_tokens, u64::MAX);
        assert!(Usage::ZERO.is_zero() && !a.is_zero());
        let parsed: Usage = serde_json::from_str(r#"{"input_tokens": 3}"#).unwrap();
        assert_eq!(parsed.output_tokens, 0);
    }
}
