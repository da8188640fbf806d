"""The demo workspace: a synthetic B2B SaaS sales team built from a causal model (see `generator`)."""
