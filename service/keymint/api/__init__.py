"""HTTP routes, one module per path family. Routes are thin: they authorise, parse, call the
engine and shape the answer; every error is a `KeymintError` rendered by one handler."""
