//! The relationship diagram of the whole model, drawn here as SVG (no layout engine, no
//! outside service). The lookups, which nearly every table refers to, make up the
//! rightmost column. The other tables are placed in layers left of it: a table whose
//! foreign keys point only at lookups sits next to them, every other one a layer left
//! of the furthest table it points to, so every arrow runs left to right. Within a
//! layer, tables are ordered by where their targets sit, which keeps arrows short.

use std::collections::HashMap;
use std::fmt::Write;

use quick_xml::escape::escape;

use crate::edm::Model;

const BOX_HEIGHT: i64 = 30;
const LAYER_GAP: i64 = 80;
/// Width of a character of the 12px sans-serif labels, generously.
const CHAR_WIDTH: i64 = 7;
const ROW_GAP: i64 = 14;
const MARGIN: i64 = 16;

/// One foreign-key edge: (dependent set, principal set, "a.x → b.y" for the tooltip).
struct Edge {
    from: usize,
    to: usize,
    label: String,
}

fn edges(model: &Model) -> Vec<Edge> {
    let index: HashMap<&str, usize> = model
        .entity_sets()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut out = Vec::new();
    for (from, set) in model.entity_sets().iter().enumerate() {
        for nav in set.navigations.iter().filter(|n| !n.constraints.is_empty()) {
            let Some(&to) = index.get(nav.target_set.as_str()) else {
                continue;
            };
            if to == from {
                continue;
            }
            let columns: Vec<String> = nav
                .constraints
                .iter()
                .map(|(dep, princ)| format!("{}.{dep} → {}.{princ}", set.name, nav.target_set))
                .collect();
            out.push(Edge {
                from,
                to,
                label: columns.join(", "),
            });
        }
    }
    out
}

/// Layer 0 holds the lookups; layer 1 the other tables whose foreign keys point at
/// lookups only; every other table's layer is one more than the highest layer among
/// its targets. Cycles (none in the model today) are cut by a depth bound.
fn layers(lookup: &[bool], edges: &[Edge]) -> Vec<usize> {
    let count = lookup.len();
    let mut layer: Vec<usize> = lookup.iter().map(|&l| usize::from(!l)).collect();
    for _ in 0..count {
        let mut changed = false;
        for e in edges.iter().filter(|e| !lookup[e.from] && !lookup[e.to]) {
            let wanted = layer[e.to] + 1;
            if layer[e.from] < wanted && wanted <= count {
                layer[e.from] = wanted;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    layer
}

/// The diagram; each table links to its page under `docs` (e.g. `http://host/docs`).
pub fn diagram_svg(model: &Model, docs: &str) -> String {
    let sets = model.entity_sets();
    let edges = edges(model);
    let lookup: Vec<bool> = sets.iter().map(|s| s.is_lookup()).collect();
    let layer = layers(&lookup, &edges);
    let layer_count = layer.iter().max().map_or(1, |m| m + 1);
    let longest = sets
        .iter()
        .map(|s| s.name.len() + if s.is_lookup() { 9 } else { 0 })
        .max()
        .unwrap_or(10) as i64;
    let box_width = longest * CHAR_WIDTH + 20;

    // Order each layer by the mean position of the tables it points to (the lookups,
    // pointing nowhere or at each other, keep the document's order).
    let mut row = vec![0usize; sets.len()];
    let mut columns: Vec<Vec<usize>> = vec![Vec::new(); layer_count];
    for (l, column) in columns.iter_mut().enumerate() {
        let mut members: Vec<(f64, usize)> = (0..sets.len())
            .filter(|&i| layer[i] == l)
            .map(|i| {
                let targets: Vec<f64> = edges
                    .iter()
                    .filter(|e| e.from == i && layer[e.to] < l && !(lookup[i] && lookup[e.to]))
                    .map(|e| row[e.to] as f64)
                    .collect();
                let key = if targets.is_empty() {
                    if lookup[i] { i as f64 } else { f64::MAX }
                } else {
                    targets.iter().sum::<f64>() / targets.len() as f64
                };
                (key, i)
            })
            .collect();
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (r, &(_, i)) in members.iter().enumerate() {
            row[i] = r;
        }
        *column = members.into_iter().map(|(_, i)| i).collect();
    }
    let tallest = columns.iter().map(Vec::len).max().unwrap_or(1) as i64;
    // Room on the right for the loops between lookups.
    let width =
        MARGIN * 2 + layer_count as i64 * box_width + (layer_count as i64 - 1) * LAYER_GAP + 60;
    let height = MARGIN * 2 + tallest * (BOX_HEIGHT + ROW_GAP);
    // Rightmost layer is 0.
    let x = |i: usize| MARGIN + (layer_count - 1 - layer[i]) as i64 * (box_width + LAYER_GAP);
    let y = |i: usize| MARGIN + row[i] as i64 * (BOX_HEIGHT + ROW_GAP);

    let mut svg = String::with_capacity(32 * 1024);
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="Relationships between the feed's tables" font-family="system-ui, sans-serif" font-size="12">"##
    );
    svg.push_str(
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7a90"/></marker></defs>"##,
    );
    svg.push_str(r##"<g fill="none" stroke="#6b7a90" stroke-opacity="0.55" stroke-width="1.2">"##);
    for e in &edges {
        let (x1, y1) = (x(e.from) + box_width, y(e.from) + BOX_HEIGHT / 2);
        let (path, label) = if layer[e.from] == layer[e.to] {
            // Within the lookup column: a loop out to the right and back.
            let (x2, y2) = (x(e.to) + box_width, y(e.to) + BOX_HEIGHT / 2);
            (
                format!("M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}", x1 + 60, x2 + 60),
                &e.label,
            )
        } else {
            let (x2, y2) = (x(e.to), y(e.to) + BOX_HEIGHT / 2);
            let bend = ((x2 - x1) / 2).max(40);
            (
                format!(
                    "M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}",
                    x1 + bend,
                    x2 - bend
                ),
                &e.label,
            )
        };
        let _ = write!(
            svg,
            r##"<path d="{path}" marker-end="url(#arrow)"><title>{}</title></path>"##,
            escape(label.as_str())
        );
    }
    svg.push_str("</g>");
    for (i, set) in sets.iter().enumerate() {
        let (bx, by) = (x(i), y(i));
        let (fill, stroke) = if set.is_lookup() {
            ("#e6eefb", "#0b5cad")
        } else {
            ("#ffffff", "#1d2430")
        };
        let name = escape(set.name.as_str());
        let _ = write!(
            svg,
            r##"<a href="{}/tables/{name}"><title>{}</title><rect x="{bx}" y="{by}" width="{box_width}" height="{BOX_HEIGHT}" rx="5" fill="{fill}" stroke="{stroke}"/><text x="{}" y="{}" fill="#1d2430">{name}{}</text></a>"##,
            escape(docs),
            escape(set.description.as_str()),
            bx + 10,
            by + 20,
            if set.is_lookup() { " (lookup)" } else { "" }
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_and_foreign_key_is_drawn_and_arrows_run_left_to_right() {
        let model = Model::load().unwrap();
        let svg = diagram_svg(&model, "http://h/docs");
        for set in model.entity_sets() {
            assert!(
                svg.contains(&format!("href=\"http://h/docs/tables/{}\"", set.name)),
                "{}",
                set.name
            );
        }
        let edges = edges(&model);
        assert!(edges.len() > 20);
        let lookup: Vec<bool> = model.entity_sets().iter().map(|s| s.is_lookup()).collect();
        let layer = layers(&lookup, &edges);
        for e in &edges {
            if lookup[e.from] {
                assert_eq!(layer[e.from], 0, "{}", e.label);
            } else {
                assert!(layer[e.from] > layer[e.to], "{}", e.label);
            }
            assert!(svg.contains(&escape(e.label.as_str()).to_string()));
        }
        // Well-formed XML.
        let mut reader = quick_xml::Reader::from_str(&svg);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("diagram is not well-formed: {e}"),
            }
        }
    }
}
