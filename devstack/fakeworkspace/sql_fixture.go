package fakeworkspace

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// GeneratorSalesOrders is the Generator kind for a sales orders table.
const GeneratorSalesOrders = "sales_orders"

// maxGeneratedRows keeps a fixture typo from filling memory.
const maxGeneratedRows = 100_000

// generateRows makes n deterministic rows for the named columns. sales_orders gives every column kind
// a flow has to handle: BIGINTs above 2^53 (every 200th order id), DECIMAL amounts, DOUBLE discounts,
// ARRAY and STRUCT values, and NULLs in discount, tags and customer.
func generateRows(g Generator, columns []string) ([][]json.RawMessage, error) {
	if g.Kind != GeneratorSalesOrders {
		return nil, fmt.Errorf("generator kind must be %q, got %q", GeneratorSalesOrders, g.Kind)
	}
	if g.Rows < 0 || g.Rows > maxGeneratedRows {
		return nil, fmt.Errorf("generator rows must be 0…%d, got %d", maxGeneratedRows, g.Rows)
	}
	regions := []string{"EMEA", "AMER", "APAC", "LATAM", "ANZ"}
	tiers := []string{"gold", "silver", "bronze"}
	tagSets := [][]string{{"web"}, {"web", "promo"}, {}, {"store"}}
	day0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([][]json.RawMessage, g.Rows)
	for i := range g.Rows {
		date := day0.AddDate(0, 0, i%330)
		var vals = map[string]any{
			"order_id":   int64(1001 + i),
			"quantity":   1 + (i*7)%20,
			"amount":     fmt.Sprintf("%d.%02d", 5+(i*7919)%995, (i*37)%100),
			"discount":   float64(i%5) * 0.05,
			"region":     regions[i%len(regions)],
			"express":    i%3 == 0,
			"order_date": date.Format(time.DateOnly),
			"created_at": date.Add(time.Duration((i*3701)%86400) * time.Second).Format(timestampLayout),
			"tags":       tagSets[i%len(tagSets)],
			"customer":   map[string]any{"id": 1 + i%40, "tier": tiers[i%len(tiers)]},
		}
		if i%200 == 199 {
			vals["order_id"] = int64(9007199254740993) + int64(i) // above 2^53: exact only as a string in JSON
		}
		if i%10 == 3 {
			vals["discount"] = nil
		}
		if i%25 == 11 {
			vals["tags"] = nil
		}
		if i%50 == 17 {
			vals["customer"] = nil
		}
		row := make([]json.RawMessage, len(columns))
		for k, c := range columns {
			v, ok := vals[strings.ToLower(c)]
			if !ok {
				return nil, fmt.Errorf("generator %s has no column %q", g.Kind, c)
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			row[k] = b
		}
		out[i] = row
	}
	return out, nil
}
