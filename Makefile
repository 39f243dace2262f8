.PHONY: run test tools clean bench replay release measure screenshots

## make run: the local stack (moto, simulators, functions under cargo lambda watch)
run:
	scripts/stack.sh

## make test: everything CI runs (installs its own tools)
test:
	scripts/test.sh

tools:
	scripts/tools.sh

clean:
	rm -rf .stack .tools target

## make bench: benchmarks (release-like profile without LTO); prints time per event
bench:
	cargo bench -p nhanhvn-shared --features testing --bench intake --bench process
	cargo bench -p connector-tests --bench initial_sync --bench bills_backfill

## make replay: moves dead letters of the running local stack back into the work queue
replay:
	set -a; . .stack/env; set +a; AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
	  cargo run -q -p replay-dead-letters

## make release: every function's Lambda zip (arm64), its size, the local cold start, sam validate --lint
release:
	scripts/release.sh

## make measure: speed, cost and robustness figures on the local stack, as one table (several minutes)
measure:
	scripts/measure.sh

## make screenshots: the connection page in each state, desktop and phone, into docs/ (a stack of its own)
screenshots:
	scripts/screenshots.sh
