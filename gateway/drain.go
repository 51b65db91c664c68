package gateway

// Drain makes GET /readyz answer 503 from now on, so load balancers stop
// sending new requests while those in flight finish. The binary calls it
// as its drain starts (gateway/run).
func (g *Gateway) Drain() { g.draining.Store(true) }
