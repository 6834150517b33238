# Two commands do all set-up: `make demo` and `make test`.
# Each creates .venv with the system python when it is missing and installs the project
# with its test extras (again whenever pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/qxg layers list
	$(BIN)/qxg layers validate
	$(BIN)/qxg export --all --crs 4544 --out exports/qxg_layers.gpkg --overwrite
	$(BIN)/qxg access highway --minutes 30 --out exports/access_highway.xlsx --overwrite
	$(BIN)/qxg coverage health --suggest 3 --out exports/health_circles.gpkg --overwrite
	@# example distances only: use the delineation the county adopted (see README, Coverage)
	$(BIN)/qxg coverage protection --layer reservoirs --first 300m --second 2km --out exports/water_protection_example.gpkg --overwrite
	$(BIN)/qxg check sanqu-sanxian --out exports/sanqu_check.gpkg --overwrite
	$(BIN)/qxg zones summary --out exports/zones_summary.xlsx --overwrite
	@# terrain: only with a DEM ($$QXG_DEM, or tiles in layers/dem/); none is bundled
	@if $(BIN)/python -c "import sys; from spatial import raster; sys.exit(0 if raster.has_dem() else 1)"; then \
	  $(BIN)/qxg terrain classes --out exports/slope_grades.gpkg --overwrite && \
	  $(BIN)/qxg terrain rules --out exports/terrain_rules.xlsx --overwrite && \
	  $(BIN)/qxg terrain baqu --out exports/baqu_candidates.gpkg --overwrite && \
	  $(BIN)/qxg terrain bands --out exports/elevation_bands.xlsx --overwrite; \
	else \
	  echo "terrain steps skipped: no DEM. Set QXG_DEM=FILE_OR_FOLDER, put tiles in layers/dem/, or download Copernicus GLO-30 with: $(BIN)/qxg terrain fetch"; \
	fi
	$(BIN)/qxg map --out maps

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) maps/*.html exports .pytest_cache
