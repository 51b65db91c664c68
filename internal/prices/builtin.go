package prices

// builtInModels are the names internal/pricing prices out of the box, for
// List. pricing.Table does not enumerate its models, so they are repeated
// here; TestBuiltInModelsMatchPricing fails when the two lists drift.
var builtInModels = []string{
	"chatgpt-4o-latest",
	"gpt-3.5-turbo",
	"gpt-4.1",
	"gpt-4.1-mini",
	"gpt-4.1-nano",
	"gpt-4o",
	"gpt-4o-mini",
	"mock",
	"o1",
	"o3",
	"o3-mini",
	"o4-mini",
	"text-embedding-3-large",
	"text-embedding-3-small",
	"text-embedding-ada-002",
}
