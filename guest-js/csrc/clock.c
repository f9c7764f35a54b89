/* QuickJS's only way out of the sandbox on wasm32-unknown-unknown is one clock import
 * (rquickjs-sys's shim reads the time through it). The orchestrator and HTTP-function roles
 * import nothing but our WIT, so the clock is defined here, inside the module, and reads the
 * epoch: their `Date` is replaced in JS by one that asks the host (prelude.js), and anything
 * else inside the engine that reads the clock (Math.random's seed) gets the same value on
 * every run, so nothing can tell time behind the history's back. */
double __rquickjs_host_now_us(void) {
    return 0.0;
}
