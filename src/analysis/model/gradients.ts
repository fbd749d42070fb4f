// Registers tfjs-core's gradient functions, which training (stitching layers) needs. The
// @tensorflow/tfjs union package does this; tfjs-core alone does not, and its Node entry point
// ships no gradients. The registration module exists only as ES modules, so it is imported by
// path, which makes esbuild bundle it in every build (tests mark bare package imports external).
// The kernel and gradient registries and the engine are process globals in tfjs 4, so these
// registrations serve the package's Node entry point as well.
import '../../../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';
