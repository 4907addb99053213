"""The smallest host: every `erp:host@0.5.0` import, in memory, in a few dozen lines.

It loads the component, answers each import with the least a host may (no
network, an empty CRM, the extension points' defaults, state in a dict) and
asks the component for its setup and its validation checklist. A real host
keeps the same shapes and puts a database, an HTTP client and a job queue
behind them (see `email_logging_host_py/`).

    python examples/smallest_host.py [COMPONENT.wasm]
"""

import sys

import wasmtime
from wasmtime.component import Component, Linker, Record, ResultType, Variant

ResultType._tagged = lambda self: True  # every result as Variant("ok"/"err"): see wit.py
ok = lambda v=None: Variant("ok", v)  # noqa: E731
state: dict = {}  # storage: key -> (value, version); secrets live beside it here


def put(_s, key, value, expected):
    version = state.get(key, (None, None))[1]
    if version != expected:
        return Variant("err", Variant("conflict", f"{key} is at version {version}"))
    state[key] = (value, (version or 0) + 1)
    return ok(state[key][1])


def versioned(key):
    if key not in state:
        return None
    r = Record()
    r.value, r.version = state[key]
    return r


IMPORTS = {
    "http": {"send": lambda _s, req: Variant("err", Variant("denied", "this host has no network"))},
    "crm": {
        "address-fields": lambda _s: ok([]),
        "lookup-parties": lambda _s, addresses: ok([party(a) for a in addresses]),
        "email-interaction-template": lambda _s: ok("EMAIL"),
        "log-page": lambda _s, messages: ok([ok("inserted") for _ in messages]),
        "update-links": lambda _s, updates: ok(),
        "log-activities": lambda _s, lines: ok(),
    },
    "extensions": {
        "decide": lambda _s, messages: ok([Variant("log", None) for _ in messages]),
        "unknown-parties": lambda _s, addresses: ok([None for _ in addresses]),
        "after-log": lambda _s, messages: ok(),
    },
    "storage": {
        "get": lambda _s, key: ok(versioned(key)),
        "put": put,
        "remove": lambda _s, key: ok(state.pop(key, None) and None),
        "get-secret": lambda _s, name: ok(state.get("secret:" + name, (None,))[0]),
        "put-secret": lambda _s, name, value: ok(state.update({"secret:" + name: (value, 0)})),
        "remove-secret": lambda _s, name: ok(state.pop("secret:" + name, None) and None),
    },
    "scheduler": {
        "ensure-recurring": lambda _s, job, recurrence: ok(),
        "remove": lambda _s, job: ok(),
        "postpone": lambda _s, job, until: ok(),
        "status": lambda _s, job: ok(None),
    },
    "secrets": {name: (lambda _s: None) for name in ("client-id", "client-secret", "redirect-url", "ews-password")},
    "log": {"event": lambda _s, level, message, fields: print(f"[{level}] {message} {dict(fields)}", file=sys.stderr)},
}


def party(address):
    p = Record()
    setattr(p, "address", address)
    setattr(p, "salesperson", None)
    setattr(p, "contacts", [])
    return p


def call(engine, linker, component, interface, name, *args):
    store = wasmtime.Store(engine)  # a fresh store per call
    store.set_limits(memory_size=256 << 20)
    store.set_wasi(wasmtime.WasiConfig())  # no files, no environment, no stdio
    instance = linker.instantiate(store, component)
    iface = instance.get_export_index(store, f"erp:plugin/{interface}@0.5.0")
    func = instance.get_func(store, instance.get_export_index(store, name, iface))
    result = func(store, *args)
    func.post_return(store)
    return result


def main(wasm):
    engine = wasmtime.Engine()
    component = Component.from_file(engine, wasm)
    linker = Linker(engine)
    linker.add_wasip2()
    with linker.root() as root:
        for interface, funcs in IMPORTS.items():
            with root.add_instance(f"erp:host/{interface}@0.5.0") as instance:
                for name, fn in funcs.items():
                    instance.add_func(name, fn)
    setup = call(engine, linker, component, "setup", "get").payload
    print("status:", setup.status, "| experience:", setup.experience, "| batch size:", getattr(setup, "batch-size"))
    for check in call(engine, linker, component, "setup", "validate"):
        print(f"{check.status:>4}  {check.name}: {check.detail}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/guest/wasm32-wasip2/guest-release/email_logging_guest.wasm")
