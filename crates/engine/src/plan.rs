//! [`CompiledPlan`]: a plan plus its expressions compiled once, shared by every run of the plan.
//!
//! Compiling a plan also checks the indexes the engine follows (links, topological order,
//! expression ids, loop bodies), so that a plan read back from storage in a bad shape is refused
//! here instead of surprising the state machine later; the engine still reads every index with
//! `get` so that nothing can panic.

use aion_plan::{Graph, Plan, Step, Template as PlanTemplate};

use crate::model::{Frame, StepKey};

/// Why a plan cannot be executed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// An expression of the plan does not compile.
    #[error("expression {index} `{source_text}` does not compile: {error}")]
    Expression {
        /// Index into the plan's expressions.
        index: usize,
        /// The expression's source.
        source_text: String,
        /// The compiler's error.
        error: aion_expr::CompileError,
    },
    /// An index of the plan points nowhere.
    #[error("the plan is malformed: {0}")]
    Malformed(String),
}

/// A plan ready to run: the plan and its expressions compiled with one [`aion_expr::Engine`].
/// Build it once per plan hash and share it with `Arc`.
#[derive(Debug)]
pub struct CompiledPlan {
    /// The plan.
    pub plan: Plan,
    /// `plan.expressions[i]` compiled, at index `i`.
    pub templates: Vec<aion_expr::Template>,
}

impl CompiledPlan {
    /// Compiles every expression of `plan` and checks its indexes.
    pub fn new(plan: Plan, engine: &aion_expr::Engine) -> Result<Self, PlanError> {
        let mut templates = Vec::with_capacity(plan.expressions.len());
        for (index, expression) in plan.expressions.iter().enumerate() {
            let template =
                engine
                    .compile(&expression.source)
                    .map_err(|error| PlanError::Expression {
                        index,
                        source_text: expression.source.clone(),
                        error,
                    })?;
            templates.push(template);
        }
        let count = templates.len();
        check_graph(&plan.graph, count)?;
        for template in plan.output.iter() {
            check_template(template, count)?;
        }
        Ok(CompiledPlan { plan, templates })
    }

    /// The graph that the steps of a key with these frames live in.
    pub fn graph(&self, frames: &[Frame]) -> Option<&Graph> {
        let mut graph = &self.plan.graph;
        for frame in frames {
            graph = &graph
                .steps
                .get(frame.foreach as usize)?
                .body
                .as_ref()?
                .graph;
        }
        Some(graph)
    }

    /// The step a key names.
    pub fn step(&self, key: &StepKey) -> Option<&Step> {
        self.graph(&key.frames)?.steps.get(key.step as usize)
    }

    /// The display form of a key: `greet` at the top level, `each_user[3].greet` in a loop.
    pub fn display(&self, key: &StepKey) -> String {
        let mut out = String::with_capacity(16 * (key.frames.len() + 1));
        let mut graph = Some(&self.plan.graph);
        for frame in &key.frames {
            let step = graph.and_then(|g| g.steps.get(frame.foreach as usize));
            out.push_str(step.map_or("?", |s| s.id.as_str()));
            out.push('[');
            push_u32(&mut out, frame.item);
            out.push_str("].");
            graph = step.and_then(|s| s.body.as_ref()).map(|b| &b.graph);
        }
        let step = graph.and_then(|g| g.steps.get(key.step as usize));
        out.push_str(step.map_or("?", |s| s.id.as_str()));
        out
    }
}

/// Appends the decimal digits of `n` (cheaper than the formatting machinery, and this runs
/// for every step instance).
fn push_u32(out: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

fn check_template(template: &PlanTemplate, expressions: usize) -> Result<(), PlanError> {
    for binding in &template.bindings {
        if binding.expression as usize >= expressions {
            return Err(PlanError::Malformed(format!(
                "binding {} names expression {} of {expressions}",
                binding.pointer, binding.expression
            )));
        }
    }
    Ok(())
}

fn check_graph(graph: &Graph, expressions: usize) -> Result<(), PlanError> {
    let n = graph.steps.len();
    let mut seen = vec![false; n];
    for &index in &graph.order {
        match seen.get_mut(index as usize) {
            Some(slot) if !*slot => *slot = true,
            _ => {
                return Err(PlanError::Malformed(format!(
                    "topological order names step {index} of {n} twice or out of range"
                )));
            }
        }
    }
    if seen.iter().any(|s| !s) {
        return Err(PlanError::Malformed(
            "topological order misses a step".into(),
        ));
    }
    for step in &graph.steps {
        check_template(&step.config, expressions)?;
        if let Some(cache) = &step.cache
            && cache.key.is_some_and(|k| k as usize >= expressions)
        {
            return Err(PlanError::Malformed(format!(
                "cache key of `{}` names a missing expression",
                step.id
            )));
        }
        if step
            .inputs
            .iter()
            .chain(&step.outputs)
            .any(|l| l.step as usize >= n)
        {
            return Err(PlanError::Malformed(format!(
                "an edge of `{}` leads out of its graph",
                step.id
            )));
        }
        if let Some(body) = &step.body {
            check_graph(&body.graph, expressions)?;
            if let Some(output) = &body.output {
                check_template(output, expressions)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_digits_match_the_formatter() {
        for n in [0, 7, 10, 99, 100, 4_096, 1_000_000_007, u32::MAX] {
            let mut out = String::from("x");
            push_u32(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }

    fn plan(graph: Graph) -> Plan {
        Plan {
            format: aion_plan::FORMAT_VERSION,
            hash: String::new(),
            flow: aion_plan::FlowInfo {
                id: "f".into(),
                name: "f".into(),
                description: String::new(),
                tags: vec![],
            },
            inputs: None,
            input_defaults: Default::default(),
            triggers: vec![],
            expressions: vec![aion_plan::Expression {
                source: "{{ inputs.x }}".into(),
                reads: vec![],
            }],
            graph,
            output: None,
            on_error: None,
        }
    }

    fn step(id: &str) -> Step {
        Step {
            id: id.into(),
            node_type: "core.noop".into(),
            node_version: 1,
            config: PlanTemplate::literal(serde_json::json!({})),
            credential: None,
            side_effects: false,
            ports: vec!["out".into()],
            inputs: vec![],
            outputs: vec![],
            retry: Default::default(),
            timeout_ms: None,
            cache: None,
            body: None,
        }
    }

    #[test]
    fn malformed_plans_are_refused() {
        let engine = aion_expr::Engine::default();
        let ok = Graph {
            steps: vec![step("a")],
            order: vec![0],
        };
        assert!(CompiledPlan::new(plan(ok), &engine).is_ok());
        let bad_order = Graph {
            steps: vec![step("a")],
            order: vec![0, 0],
        };
        assert!(CompiledPlan::new(plan(bad_order), &engine).is_err());
        let mut linked = step("a");
        linked.outputs.push(aion_plan::Link {
            step: 5,
            port: "out".into(),
        });
        let bad_link = Graph {
            steps: vec![linked],
            order: vec![0],
        };
        assert!(CompiledPlan::new(plan(bad_link), &engine).is_err());
        let mut p = plan(Graph {
            steps: vec![],
            order: vec![],
        });
        p.expressions[0].source = "{{ nope( }}".into();
        assert!(matches!(
            CompiledPlan::new(p, &engine),
            Err(PlanError::Expression { index: 0, .. })
        ));
    }

    #[test]
    fn display_of_unknown_keys_does_not_panic() {
        let compiled = CompiledPlan::new(
            plan(Graph {
                steps: vec![step("a")],
                order: vec![0],
            }),
            &aion_expr::Engine::default(),
        )
        .expect("plan");
        assert_eq!(compiled.display(&StepKey::top(0)), "a");
        let odd = StepKey::new(
            vec![Frame {
                foreach: 0,
                item: 2,
            }],
            9,
        );
        assert_eq!(compiled.display(&odd), "a[2].?");
        assert!(compiled.step(&odd).is_none());
    }
}
