//! Observable extraction: the (type, path, operator, value) facts a pattern mentions, for
//! indexing ("which indicators mention 198.51.100.1?") and for matching.

use crate::ast::{ComparisonOperator, Literal, ObservationExpression, Operand};

/// One value a pattern compares an object property with.
///
/// `[ipv4-addr:value = '198.51.100.1']` yields `ipv4-addr`, `value`, `=`, not negated,
/// `'198.51.100.1'`. An `IN` set yields one observable per member, each with operator `IN`.
/// `EXISTS` tests mention no value and yield none.
#[derive(Clone, Debug, PartialEq)]
pub struct Observable<'a> {
    /// The object type, e.g. `file`.
    pub object_type: &'a str,
    /// The canonical path after the `:`, e.g. `hashes.'SHA-256'` or
    /// `extensions.'windows-pebinary-ext'.sections[*].entropy` (see
    /// [`crate::ObjectPath::property_path`]).
    pub path: String,
    /// The comparison operator.
    pub operator: ComparisonOperator,
    /// Whether `NOT` was written before the operator. This is the comparison's own flag: an
    /// observable inside an `OR` or under `FOLLOWEDBY` is reported the same way.
    pub negated: bool,
    /// The value compared with.
    pub value: Literal<'a>,
}

/// Every observable of `expr`, in pattern order.
pub(crate) fn observables<'a>(expr: &ObservationExpression<'a>) -> Vec<Observable<'a>> {
    let mut out = Vec::new();
    expr.for_each_observation(&mut |cmp| {
        cmp.for_each_comparison(&mut |c| {
            let values: &[_] = match &c.operand {
                Operand::None => &[],
                Operand::Literal(lit, _) => std::slice::from_ref(lit),
                Operand::Set(_) => &[],
            };
            let set = match &c.operand {
                Operand::Set(items) => items.as_slice(),
                _ => &[],
            };
            if values.is_empty() && set.is_empty() {
                return;
            }
            let path = c.path.property_path();
            let all = values.iter().chain(set.iter().map(|(lit, _)| lit));
            for value in all {
                out.push(Observable {
                    object_type: c.path.object_type,
                    path: path.clone(),
                    operator: c.operator,
                    negated: c.negated,
                    value: value.clone(),
                });
            }
        })
    });
    out
}
