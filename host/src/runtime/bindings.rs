//! `bindgen!` output for our two WIT worlds, one module each.

/// Host side of the `orchestrator` world: the host implements `context`.
pub mod orchestrator {
    wasmtime::component::bindgen!({
        world: "orchestrator",
        path: "../wit",
        imports: {
            "durable:engine/context.wait-all": async | trappable,
            "durable:engine/context.wait-any": async | trappable,
            default: trappable,
        },
        exports: { default: async },
    });
}

/// Host side of the `activity` world: the host calls `activities`.
pub mod activity {
    wasmtime::component::bindgen!({
        world: "activity",
        path: "../wit",
        exports: { default: async },
    });
}

/// Host side of the `starter` world: the host implements `client` and calls `http-functions`.
pub mod starter {
    wasmtime::component::bindgen!({
        world: "starter",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// Host side of the `entity` world: the host calls `entities` (the world imports nothing).
pub mod entity {
    wasmtime::component::bindgen!({
        world: "entity",
        path: "../wit",
        exports: { default: async },
    });
}
