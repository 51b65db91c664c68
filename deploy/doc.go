// Package deploy holds what operators deploy oais with, and the tests that
// check it: the container image (image/: a FROM scratch Containerfile and
// build.sh, `make image`), the Helm chart (helm/oais) and the systemd units
// (systemd/). docs/deploy.md says how to use each. The package has no code:
// its tests build the image and run the binaries from it against PostgreSQL
// and Redis, render the chart with helm and assert its invariants, and verify
// the units with systemd-analyze; each skips with one line naming what it
// lacks.
package deploy
