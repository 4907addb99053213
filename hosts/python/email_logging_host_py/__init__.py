"""A second ERP host for the Email Logging component, in Python.

Written from the WIT contract (`wit/plugin.wit`, `wit/deps/erp-host/host.wit`)
and its doc comments. The modules map one-to-one onto the `erp:host`
interfaces: `http`, `crm`, `extensions`, `storage`, `scheduler`, `secrets`
and `log`; `runtime` loads the component and links them.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
