// Package schemas owns the types every layer of Warden speaks — the model's
// response, the state a decision is judged against, the sized order, the
// verdict, the order lifecycle — together with the embedded JSON schema and
// the strict parser that turns raw model output into those types.
//
// It is a leaf: it imports nothing else from Warden.
package schemas
