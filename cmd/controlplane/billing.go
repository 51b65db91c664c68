package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/internal/controlplane"
)

const billingUsage = `controlplane billing: compare the ledger with Stripe, and settle what needs an operator.

Usage:
  controlplane billing reconcile [--period YYYY-MM | --from TIME --to TIME]
  controlplane billing resolve PERIOD_ID (--counted | --resend)

reconcile
  For every workspace with billed usage or a Stripe customer, compares what the
  ledger billed over a window with what Stripe's meter counted for the
  workspace's customer over the same window (one meter event summary per
  customer), in micro-dollars (1 USD = 1,000,000). Periods are placed by the
  timestamp of their meter event, which is where Stripe files them: usage that
  reached Stripe late is in the month it was sent (docs/billing.md, "Late usage").

  --period YYYY-MM   a UTC calendar month (default: the current one)
  --from, --to TIME  any window instead, RFC 3339 on whole minutes (Stripe's rule)

  Columns: LEDGER what oais billed, STRIPE what Stripe counted, DIFFERENCE
  STRIPE - LEDGER, STATUS:
    OK         both agree
    PENDING    Stripe is short by no more than the periods still being sent
    MISSING    Stripe counted less (an event lost or refused as invalid)
    EXTRA      Stripe counted more (usage oais never sent, or counted twice)
    REVIEW     a period is held for an operator; the list below says why
    UNCHECKED  OAIS_STRIPE_API_KEY is not set: only the ledger is shown
  Then every held period and Stripe's meter error reports in the window.

  Exit status: 0 when no row is MISSING, EXTRA or REVIEW; 1 when one is;
  2 for bad usage or configuration, or without OAIS_STRIPE_API_KEY.

resolve
  Ends the review of a held period after you checked the customer's meter
  events in the Stripe dashboard:
  --counted  Stripe did count the period's event: mark it sent
  --resend   Stripe did not count it: send it again under a new identifier
             (the billing worker does, at its next tick)
  The decision is written to the workspace's audit log.

Configuration is the control plane's (controlplane --help): OAIS_DATABASE_URL,
OAIS_STRIPE_API_KEY, OAIS_STRIPE_API_BASE.
`

// runBilling runs `controlplane billing args…` and returns the exit status.
func runBilling(ctx context.Context, args []string, cfg controlplane.Config, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, billingUsage)
		return 2
	}
	switch args[0] {
	case "reconcile":
		return reconcile(ctx, args[1:], cfg, stdout, stderr)
	case "resolve":
		return resolve(ctx, args[1:], cfg, stdout, stderr)
	}
	fmt.Fprintf(stderr, "controlplane billing: unknown command %q\n\n%s", args[0], billingUsage)
	return 2
}

func reconcile(ctx context.Context, args []string, cfg controlplane.Config, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("controlplane billing reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, billingUsage) }
	period := fs.String("period", "", "a UTC month, YYYY-MM")
	fromS := fs.String("from", "", "window start, RFC 3339")
	toS := fs.String("to", "", "window end, RFC 3339")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "controlplane billing reconcile: unexpected %q\n", fs.Args())
		return 2
	}
	from, to, err := window(*period, *fromS, *toS)
	if err != nil {
		fmt.Fprintln(stderr, "controlplane billing reconcile:", err)
		return 2
	}
	b, err := controlplane.OpenBilling(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "controlplane billing reconcile:", err)
		return 2
	}
	defer b.Close()
	r, err := b.Reconciler.Reconcile(ctx, from, to)
	if err != nil {
		fmt.Fprintln(stderr, "controlplane billing reconcile:", err)
		return 1
	}
	printReport(stdout, r)
	switch {
	case !b.StripeConfigured:
		fmt.Fprintln(stderr, "controlplane billing reconcile: OAIS_STRIPE_API_KEY is not set: there is no Stripe to compare the ledger with")
		return 2
	case len(r.Mismatches()) > 0:
		return 1
	}
	return 0
}

// window is the reconciliation window the flags name.
func window(period, from, to string) (time.Time, time.Time, error) {
	if from == "" && to == "" {
		return billing.MonthWindow(period, time.Now())
	}
	if period != "" || from == "" || to == "" {
		return time.Time{}, time.Time{}, errors.New("give --period, or both --from and --to")
	}
	f, err := time.Parse(time.RFC3339, from)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("--from: %w", err)
	}
	t, err := time.Parse(time.RFC3339, to)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("--to: %w", err)
	}
	if !f.Truncate(time.Minute).Equal(f) || !t.Truncate(time.Minute).Equal(t) || !t.After(f) {
		return time.Time{}, time.Time{}, errors.New("--from and --to must be whole minutes, --from first")
	}
	return f.UTC(), t.UTC(), nil
}

func printReport(out io.Writer, r billing.Report) {
	fmt.Fprintf(out, "Billing reconciliation from %s to %s, in micro-dollars\n\n", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKSPACE\tSTRIPE CUSTOMER\tLEDGER\tSTRIPE\tDIFFERENCE\tSTATUS\tNOTE\t")
	counts := map[billing.ReconcileStatus]int{}
	for _, row := range r.Rows {
		counts[row.Status]++
		stripe, diff := "-", "-"
		if row.StripeRead {
			stripe, diff = fmt.Sprint(row.StripeMicros), fmt.Sprintf("%+d", row.DifferenceMicros)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", row.WorkspaceID, orDash(row.CustomerID), row.LedgerMicros, stripe, diff, row.Status, note(row))
	}
	fmt.Fprintf(tw, "TOTAL\t\t%d\t%d\t%+d\t\t\t\n", r.LedgerTotal, r.StripeTotal, r.StripeTotal-r.LedgerTotal)
	_ = tw.Flush()

	if len(r.Held) > 0 {
		fmt.Fprintf(out, "\nHeld for review, any month (%d): settle each with `controlplane billing resolve PERIOD_ID --counted|--resend`\n", len(r.Held))
		for _, p := range r.Held {
			fmt.Fprintf(out, "  %s  workspace %s  %d µ$  stamped %s  identifier %s\n    %s\n",
				p.ID, p.WorkspaceID, p.CostMicros, p.Stamp().Format(time.RFC3339), p.EventIdentifier(), p.Review)
		}
	}
	if len(r.MeterErrors) > 0 {
		fmt.Fprintf(out, "\nStripe meter error reports in the window (%d): events Stripe refused, not billed\n", len(r.MeterErrors))
		for _, e := range r.MeterErrors {
			fmt.Fprintf(out, "  %s  %s to %s  %d invalid  %s  %q\n", e.EventID,
				e.ValidationStart.Format(time.RFC3339), e.ValidationEnd.Format(time.RFC3339), e.ErrorCount, e.Codes(), e.Summary)
		}
	}
	var bad []string
	for _, s := range []billing.ReconcileStatus{billing.ReconcileMissing, billing.ReconcileExtra, billing.ReconcileReview} {
		if counts[s] > 0 {
			bad = append(bad, fmt.Sprintf("%s %d", s, counts[s]))
		}
	}
	if len(bad) == 0 {
		fmt.Fprintf(out, "\n%d workspace(s); none needs an operator.\n", len(r.Rows))
		return
	}
	fmt.Fprintf(out, "\n%d workspace(s); mismatches: %s.\n", len(r.Rows), strings.Join(bad, ", "))
}

func note(r billing.ReconcileRow) string {
	var parts []string
	if r.UnsentPeriods > 0 {
		parts = append(parts, fmt.Sprintf("%d period(s) still being sent (%d)", r.UnsentPeriods, r.UnsentMicros))
	}
	if r.HeldPeriods > 0 {
		parts = append(parts, fmt.Sprintf("%d held", r.HeldPeriods))
	}
	if r.MeterErrors > 0 {
		parts = append(parts, fmt.Sprintf("%d refused by Stripe", r.MeterErrors))
	}
	if r.CustomerID == "" && r.LedgerMicros > 0 {
		parts = append(parts, "no Stripe customer yet")
	}
	return strings.Join(parts, "; ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func resolve(ctx context.Context, args []string, cfg controlplane.Config, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("controlplane billing resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, billingUsage) }
	counted := fs.Bool("counted", false, "Stripe counted the period's event: mark it sent")
	resend := fs.Bool("resend", false, "Stripe did not count it: send it again under a new identifier")
	// PERIOD_ID may come before or after the flags.
	var ids, flags []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
		} else {
			ids = append(ids, a)
		}
	}
	if err := fs.Parse(flags); err != nil {
		return 2
	}
	if len(ids) != 1 || *counted == *resend {
		fmt.Fprintln(stderr, "controlplane billing resolve: give one PERIOD_ID and exactly one of --counted or --resend")
		return 2
	}
	id := ids[0]
	b, err := controlplane.OpenBilling(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "controlplane billing resolve:", err)
		return 2
	}
	defer b.Close()
	p, err := b.Ledger.Resolve(ctx, id, *counted)
	if err != nil {
		fmt.Fprintln(stderr, "controlplane billing resolve:", err)
		return 1
	}
	if *counted {
		fmt.Fprintf(stdout, "period %s of workspace %s marked sent (%d µ$ counted by Stripe)\n", p.ID, p.WorkspaceID, p.CostMicros)
		return 0
	}
	fmt.Fprintf(stdout, "period %s of workspace %s will be sent again as %s (%d µ$) at the billing worker's next tick\n",
		p.ID, p.WorkspaceID, p.EventIdentifier(), p.CostMicros)
	return 0
}
