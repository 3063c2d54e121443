#!/usr/bin/env bash
# Install curator and run the main job on sample_data/: train SCN, then export the cleaned labels
# and a report. Prints where the results are and how to open the review.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/install.sh
RUN="${RUN:-runs/sample-$(date +%Y%m%d-%H%M%S)}"
curator train sample_data --out "$RUN" --truth sample_data/truth.csv \
    --backbone compact --no-pretrained --image-size 64 --epochs 20 --batch-size 32 \
    --lr 0.05 --milestones 14,18 --margin-1 0.07 --device cpu --seed 0
curator export "$RUN" --out "$RUN/cleaned.csv"
curator report "$RUN" --out "$RUN/report"
echo
echo "run directory:   $RUN"
echo "cleaned labels:  $RUN/cleaned.csv"
echo "report:          $RUN/report/index.html"
echo "review in the FiftyOne App:  .venv/bin/curator review $RUN"
