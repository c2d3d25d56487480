//! The declaration shared by star-model's backend operations (the fused cross-entropy, head
//! loss, softmax and SwiGLU gate, the sparse propagation).

/// Declares a backend operation for every backend star-model builds: the trait through burn's
/// `backend_extension` (Flex, NdArray, the CubeCL backends, Autodiff), and its
/// implementations for NdArray and the CubeCL backends, which run the trait's default bodies
/// (the tensor reference). The operation's own file implements it for Flex (its host path)
/// and for `Autodiff` (its backward pass).
macro_rules! backend_operation {
    ($(#[$meta:meta])* pub trait $name:ident: Backend { $($body:tt)* }) => {
        $(#[$meta])*
        #[burn::backend::backend_extension(
            Flex: cfg(feature = "flex"),
            NdArray: cfg(feature = "ndarray"),
            Cube: cfg(any(feature = "wgpu", feature = "cuda")),
            Autodiff
        )]
        pub trait $name: Backend { $($body)* }

        #[cfg(feature = "ndarray")]
        impl $name for burn::backend::NdArray {}

        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        impl $name for burn_cubecl::CubeBackend {}
    };
}
