//! Golden vectors and memory images of training steps (not built yet).
