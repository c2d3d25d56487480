//! Checkpoint averaging: the element-wise mean of the float parameters of several copies of
//! one module (the checkpoints of consecutive epochs), a model that is usually steadier than
//! any single epoch's.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

/// Collects a module's float parameters, flattened, in visiting order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().flatten(0, D - 1));
    }
}

/// Replaces each float parameter by its mean with the matching ones of the other copies.
struct Mean<'a> {
    others: &'a [Vec<Tensor<1>>],
    next: usize,
    mismatch: Option<String>,
}

impl ModuleMapper for Mean<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let i = self.next;
        self.next += 1;
        let (others, mismatch) = (self.others, &mut self.mismatch);
        param.map(|t| {
            let shape = t.shape();
            let mut sum = t;
            for (k, o) in others.iter().enumerate() {
                match o.get(i) {
                    Some(v) if v.shape().num_elements() == shape.num_elements() => {
                        sum = sum + v.clone().reshape(shape.clone());
                    }
                    _ => {
                        mismatch.get_or_insert_with(|| {
                            format!(
                                "copy {} has no parameter {i} of {} values",
                                k + 1,
                                shape.num_elements()
                            )
                        });
                    }
                }
            }
            sum.div_scalar((others.len() + 1) as f64)
        })
    }
}

/// The element-wise mean of the float parameters of `models` (copies of one architecture,
/// e.g. the checkpoints of several epochs); integer and boolean parameters are the first
/// copy's. An error names a copy whose parameters do not match the first one's.
pub fn average<M: Module>(models: Vec<M>) -> Result<M, String> {
    let mut it = models.into_iter();
    let first = it.next().ok_or("no model to average")?;
    let others: Vec<Vec<Tensor<1>>> = it
        .map(|m| {
            let mut c = Collect(Vec::new());
            m.visit(&mut c);
            c.0
        })
        .collect();
    let mut mean = Mean {
        others: &others,
        next: 0,
        mismatch: None,
    };
    let averaged = first.map(&mut mean);
    if let Some(m) = mean.mismatch {
        return Err(format!("cannot average these models: {m}"));
    }
    if let Some((k, o)) = others
        .iter()
        .enumerate()
        .find(|(_, o)| o.len() != mean.next)
    {
        return Err(format!(
            "cannot average these models: copy {} has {} float parameters, the first {}",
            k + 1,
            o.len(),
            mean.next
        ));
    }
    Ok(averaged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    fn values(l: &Linear) -> Vec<f32> {
        let mut v = l.weight.val().into_data().try_to_vec::<f32>().unwrap();
        v.extend(
            l.bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        );
        v
    }

    #[test]
    fn the_mean_of_each_parameter_and_mismatches_named() {
        let dev = Device::flex();
        let models: Vec<Linear> = (0..3).map(|_| LinearConfig::new(3, 2).init(&dev)).collect();
        let vals: Vec<Vec<f32>> = models.iter().map(values).collect();
        let avg = values(&average(models).unwrap());
        for (j, a) in avg.iter().enumerate() {
            let want = (vals[0][j] + vals[1][j] + vals[2][j]) / 3.0;
            assert!((a - want).abs() < 1e-6, "{j}: {a} against {want}");
        }
        let one = LinearConfig::new(3, 2).init(&dev);
        assert_eq!(values(&average(vec![one.clone()]).unwrap()), values(&one));

        let other = LinearConfig::new(3, 4).init(&dev);
        let e = average(vec![one.clone(), other]).unwrap_err();
        assert!(e.contains("copy 1") && e.contains("6 values"), "{e}");
        let no_bias = LinearConfig::new(3, 2).with_bias(false).init(&dev);
        let e = average(vec![one, no_bias]).unwrap_err();
        assert!(e.contains("copy 1"), "{e}");
        assert!(average(Vec::<Linear>::new()).is_err());
    }
}
