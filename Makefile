.PHONY: run test tools clean bench

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
	cargo bench -p nhanhvn-shared --bench intake --bench process
