//! Datasets: the IDX reader, `Dataset`, synthetic data and shuffling.
