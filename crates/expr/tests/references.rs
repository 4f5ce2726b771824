//! Which variable paths a template reads, as the flow compiler sees them through
//! `Template::references`. Evaluation is deliberately not tested here.

use aion_expr::{Engine, VarPath};

fn refs(field: &str) -> Vec<String> {
    Engine::default()
        .compile(field)
        .unwrap_or_else(|e| panic!("{field}: {e}"))
        .references()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn paths_are_split_into_root_and_segments() {
    let t = Engine::default()
        .compile("{{ steps.price.output.body.price < inputs.threshold }}")
        .unwrap();
    assert_eq!(
        t.references(),
        vec![
            VarPath {
                root: "steps".into(),
                segments: vec![
                    "price".into(),
                    "output".into(),
                    "body".into(),
                    "price".into()
                ],
                span: 3..32,
            },
            VarPath {
                root: "inputs".into(),
                segments: vec!["threshold".into()],
                span: 35..51,
            },
        ]
    );
}

#[test]
fn constant_subscripts_are_segments() {
    let t = Engine::default()
        .compile("x {{ steps['a-b'].output[0] }}")
        .unwrap();
    let r = &t.references()[0];
    assert_eq!(r.root, "steps");
    assert_eq!(r.segments, ["a-b", "output", "0"]);
    assert_eq!(r.offset(), 5);
    assert_eq!(refs("{{ steps[\"x\"].output }}"), ["steps.x.output"]);
    assert_eq!(refs("{{ item.tags[-1] }}"), ["item.tags[-1]"]);
}

#[test]
fn non_constant_subscripts_stop_the_path() {
    assert_eq!(
        refs("{{ steps[inputs.step].output }}"),
        ["steps", "inputs.step"]
    );
    assert_eq!(refs("{{ item[index] }}"), ["item", "index"]);
    assert_eq!(refs("{{ item[1:3] }}"), ["item"]);
}

#[test]
fn filters_tests_and_literals_are_looked_into() {
    assert_eq!(
        refs("{{ steps.x.output | default(steps.y.output.body) }}"),
        ["steps.x.output", "steps.y.output.body"]
    );
    assert_eq!(
        refs("{{ [inputs.a, {'k': vars.b, (run.id): 1}, trigger.body | length] }}"),
        ["inputs.a", "vars.b", "run.id", "trigger.body"]
    );
    assert_eq!(
        refs("{{ item.n if item is defined and item.n is divisibleby(index) else none }}"),
        ["item.n", "item", "item.n", "index"]
    );
    assert_eq!(
        refs("{{ steps.a.output | map(attribute='name') | join(', ') }}"),
        ["steps.a.output"]
    );
    assert_eq!(refs("{{ range(inputs.n) | sum }}"), ["inputs.n"]);
    assert_eq!(
        refs("{{ steps.a.output.items | selectattr('ok') | list }}"),
        ["steps.a.output.items"]
    );
}

#[test]
fn mixed_fields_collect_every_expression() {
    assert_eq!(
        refs(
            "Hello {{ item.name }}, you are #{{ index + 1 }} of {{ steps.users.output | length }}"
        ),
        ["item.name", "index", "steps.users.output"]
    );
    assert_eq!(refs("no expressions"), Vec::<String>::new());
    assert_eq!(refs("{{ 1 + 2 }}"), Vec::<String>::new());
}

#[test]
fn strings_and_keywords_are_not_variables() {
    assert_eq!(refs("{{ 'steps.x' ~ \"inputs\" }}"), Vec::<String>::new());
    assert_eq!(
        refs("{{ true and not false or none is none }}"),
        Vec::<String>::new()
    );
    assert_eq!(refs("{{ (inputs).a }}"), ["inputs"]);
}
