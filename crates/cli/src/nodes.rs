//! `aion nodes`: the node catalog, as a table or one node in detail.

use std::process::ExitCode;

use aion_node_sdk::Manifest;

use crate::Format;

pub(crate) fn show(node_type: Option<&str>, format: Format) -> anyhow::Result<ExitCode> {
    let catalog = aion_nodes::catalog();
    let Some(node_type) = node_type else {
        match format {
            Format::Json => {
                let all: Vec<_> = catalog.iter().map(|m| m.describe(true)).collect();
                return crate::print_json(&all);
            }
            Format::Human => {
                let width = catalog.iter().map(|m| m.node_type.len()).max().unwrap_or(4);
                println!(
                    "{:width$}  {:11}  {:11}  DESCRIPTION",
                    "TYPE", "CATEGORY", "EXECUTION"
                );
                for m in catalog.iter() {
                    let category = serde_json::to_value(m.category)?;
                    println!(
                        "{:width$}  {:11}  {:11}  {}",
                        m.node_type,
                        category.as_str().unwrap_or_default(),
                        m.execution_kind(),
                        m.description
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
        }
    };
    let Some(manifest) = catalog.get(node_type) else {
        let hint = catalog
            .suggest(node_type)
            .map(|best| format!("; did you mean `{best}`?"))
            .unwrap_or_default();
        eprintln!("error: unknown node type `{node_type}`{hint} (`aion nodes` lists them)");
        return Ok(ExitCode::from(2));
    };
    match format {
        Format::Json => crate::print_json(&manifest.describe(true)),
        Format::Human => {
            println!("{} (version {})", manifest.node_type, manifest.version);
            println!("{}\n", manifest.title);
            println!("{}\n", manifest.description);
            println!(
                "category:     {}",
                serde_json::to_value(manifest.category)?
                    .as_str()
                    .unwrap_or_default()
            );
            println!("ports:        {}", describe_ports(manifest));
            println!(
                "credential:   {}",
                manifest
                    .credential
                    .as_ref()
                    .map_or("none".to_owned(), |c| format!(
                        "{} ({})",
                        c.kind,
                        if c.required { "required" } else { "optional" }
                    ))
            );
            println!(
                "side effects: {}",
                if manifest.side_effects { "yes" } else { "no" }
            );
            println!(
                "loop body:    {}",
                if manifest.has_body { "yes" } else { "no" }
            );
            let execution = match &manifest.execution {
                aion_node_sdk::Execution::Engine => "interpreted by the engine".to_owned(),
                aion_node_sdk::Execution::Action(_) => "runs as an action".to_owned(),
                aion_node_sdk::Execution::Pure(_) => {
                    "pure: computed from its config, inline in the run".to_owned()
                }
                aion_node_sdk::Execution::Unavailable(reason) => {
                    format!("not runnable yet: {reason}")
                }
            };
            println!("execution:    {execution}");
            println!(
                "\nconfig schema:\n{}",
                serde_json::to_string_pretty(&manifest.config_schema)?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn describe_ports(manifest: &Manifest) -> String {
    let mut text = match &manifest.ports {
        aion_node_sdk::PortRule::Fixed { ports } => ports.join(", "),
        aion_node_sdk::PortRule::FromConfig {
            array,
            name_field,
            extra,
        } => {
            format!(
                "one per `{array}[].{name_field}`, plus {}",
                extra.join(", ")
            )
        }
    };
    text.push_str(", error");
    text
}
