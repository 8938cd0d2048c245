//! A [`metrics`] recorder for tests: what was recorded, by metric name and labels.
//!
//! Install it once per test binary with [`TestRecorder::install`] (the facade has one global
//! recorder; the fetch tasks of a cache run on other threads, so a thread-local one would miss
//! them), then read values with [`TestRecorder::counter`] and friends.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, OnceLock, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

/// A metric's name and its labels, sorted.
type Id = (String, Vec<(String, String)>);

/// Every metric recorded, for assertions.
#[derive(Default)]
pub struct TestRecorder {
    counters: Mutex<BTreeMap<Id, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<Id, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<Id, Arc<Samples>>>,
    units: Mutex<BTreeMap<String, Option<Unit>>>,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(value);
    }
}

impl std::fmt::Debug for TestRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRecorder")
            .field("metrics", &self.all_labels().len())
            .finish_non_exhaustive()
    }
}

fn id(key: &Key) -> Id {
    let mut labels: Vec<(String, String)> = key
        .labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect();
    labels.sort();
    (key.name().to_owned(), labels)
}

fn matches(id: &Id, name: &str, labels: &[(&str, &str)]) -> bool {
    id.0 == name
        && labels
            .iter()
            .all(|(k, v)| id.1.iter().any(|(lk, lv)| lk == k && lv == v))
}

impl TestRecorder {
    /// The process's recorder, installed as the global one on first use.
    ///
    /// # Panics
    ///
    /// When another global recorder was installed first.
    pub fn install() -> &'static TestRecorder {
        static RECORDER: OnceLock<&'static TestRecorder> = OnceLock::new();
        RECORDER.get_or_init(|| {
            let recorder: &'static TestRecorder = Box::leak(Box::default());
            metrics::set_global_recorder(recorder).expect("no other global metrics recorder");
            recorder
        })
    }

    /// The sum of the counters named `name` whose labels include `labels`.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        counters
            .iter()
            .filter(|(id, _)| matches(id, name, labels))
            .map(|(_, v)| v.load(Ordering::Relaxed))
            .sum()
    }

    /// The value of the gauge named `name` with `labels`, if it was set.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let gauges = self.gauges.lock().unwrap_or_else(PoisonError::into_inner);
        gauges
            .iter()
            .find(|(id, _)| matches(id, name, labels))
            .map(|(_, v)| f64::from_bits(v.load(Ordering::Relaxed)))
    }

    /// Every sample of the histograms named `name` whose labels include `labels`.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        let histograms = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        histograms
            .iter()
            .filter(|(id, _)| matches(id, name, labels))
            .flat_map(|(_, s)| s.0.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .collect()
    }

    /// The unit `name` was described with (`None` when described without one).
    pub fn unit(&self, name: &str) -> Option<Option<Unit>> {
        self.units
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Every label key and value recorded, of every metric: for checking none is a secret.
    pub fn all_labels(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |id: &Id| {
            out.push(id.0.clone());
            for (k, v) in &id.1 {
                out.push(format!("{k}={v}"));
            }
        };
        self.counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .for_each(&mut push);
        self.gauges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .for_each(&mut push);
        self.histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .for_each(&mut push);
        out
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>) {
        self.units
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.as_str().to_owned(), unit);
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        Counter::from_arc(counters.entry(id(key)).or_default().clone())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut gauges = self.gauges.lock().unwrap_or_else(PoisonError::into_inner);
        Gauge::from_arc(gauges.entry(id(key)).or_default().clone())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Histogram::from_arc(histograms.entry(id(key)).or_default().clone())
    }
}
