# Routine tasks. The README's two commands are scripts/run.sh and scripts/test.sh.
.PHONY: setup run test fmt lint crds docs
setup: ; scripts/setup.sh
run: ; scripts/run.sh
test: ; scripts/test.sh
fmt: ; cargo fmt --all
lint: ; cargo clippy --workspace --all-targets -- -D warnings
crds: ; cargo run -p switchyard-crds --bin crdgen
docs: ; cargo run -p switchyard-docgen
