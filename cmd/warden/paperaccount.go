package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

// paperAccount is the paper exchange as the runtime uses it: an exchange
// that keeps its own state whatever happens to our process, as a real one
// does. The order journal is written when an order is placed, so the
// account is saved (a delta, agent.PaperPersister) at the same points,
// before the executor hears of a change and journals it:
//
//   - PlaceOrder and CancelOrder save the account before they answer: an
//     order the journal records as acknowledged (or filled, or cancelled)
//     is in the saved account, and one the account never saved was never
//     answered, so the journal holds at most its submission, which the
//     executor resolves by client order id (found, or never placed);
//   - the candle feed (OnCandle: the clock, fills of resting orders) marks
//     the account changed, and it is saved before the next read of orders,
//     trades or balances, the reads whose answers the executor journals.
//
// A kill -9 at any instruction leaves the journal and the saved account
// agreeing: what the next process restores has every order the journal
// has seen answered, and nothing the journal does not know of. A save
// that fails makes the call fail as an outcome not known (place) or
// unavailable (reads, cancel): the executor journals nothing it could
// contradict, and resolves it later. The saves are written with
// synchronous=NORMAL, the journal with FULL after them: a journal event
// on disk carries every paper save before it in the same WAL.
type paperAccount struct {
	*paper.Exchange

	mu    sync.Mutex // serialises saves (a late PlaceOrder reply runs beside the cycle)
	saver *agent.PaperPersister
	dirty bool // a candle was fed since the last save
}

// crashHook, when set (tests only), runs at each step where a process
// may die between the paper account and the journal: "place", "placed",
// "cancel", "cancelled" (paperAccount), "fed" (a candle's changes saved)
// and "journaled <state>" (crashJournal), with the client order id and
// what the order is ("buy limit", "sell stop_loss_limit"; "" where
// unknown). A test kills its process there with SIGKILL.
var crashHook func(step, clientOrderID, what string)

func crashPoint(step, cid, what string) {
	if crashHook != nil {
		crashHook(step, cid, what)
	}
}

// crashJournal is the journal with crashHook after each event it records
// (tests only: the runtime uses it when crashHook is set).
type crashJournal struct{ *audit.Store }

func (j crashJournal) AppendOrderEvent(ctx context.Context, ev schemas.OrderEvent) error {
	if err := j.Store.AppendOrderEvent(ctx, ev); err != nil {
		return err
	}
	crashPoint("journaled "+string(ev.State), ev.ClientOrderID, string(ev.Side)+" "+ev.Type)
	return nil
}

// newPaperAccount restores px from store and returns it ready to save.
func newPaperAccount(ctx context.Context, store agent.PaperStore, px *paper.Exchange) (*paperAccount, error) {
	saver, _, err := agent.RestorePaper(ctx, store, px)
	if err != nil {
		return nil, err
	}
	return &paperAccount{Exchange: px, saver: saver}, nil
}

// saveTimeout bounds one save. The save runs even when the caller's
// context has ended: the exchange has already changed.
const saveTimeout = 30 * time.Second

// Save saves what changed in the account since the last save (nothing
// when nothing did).
func (p *paperAccount) Save(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.saveLocked(ctx)
}

func (p *paperAccount) saveLocked(ctx context.Context) error {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	if err := p.saver.Save(c); err != nil {
		return err
	}
	p.dirty = false
	return nil
}

// flush saves the account when a candle changed it since the last save.
func (p *paperAccount) flush(ctx context.Context) error {
	p.mu.Lock()
	if !p.dirty {
		p.mu.Unlock()
		return nil
	}
	err := p.saveLocked(ctx)
	p.mu.Unlock()
	if err != nil {
		return &executor.Error{Kind: executor.KindUnavailable, Msg: "paper: the account could not be saved after the last candle: " + err.Error()}
	}
	crashPoint("fed", "", "")
	return nil
}

// PlaceOrder places the order and saves the account before answering.
func (p *paperAccount) PlaceOrder(ctx context.Context, req executor.OrderRequest) (executor.OrderReport, error) {
	if err := p.flush(ctx); err != nil {
		return executor.OrderReport{}, err // nothing was placed
	}
	crashPoint("place", req.ClientOrderID, string(req.Side)+" "+req.Type)
	rep, err := p.Exchange.PlaceOrder(ctx, req)
	if err != nil {
		return rep, err // refused: nothing changed
	}
	if serr := p.Save(ctx); serr != nil {
		// Accepted here but not saved: a process stopped now loses it, a
		// process going on has it. Which one only a lookup tells.
		return executor.OrderReport{}, &executor.Error{Kind: executor.KindUnknown,
			Msg: fmt.Sprintf("paper: order %s accepted but the account could not be saved: %v", req.ClientOrderID, serr)}
	}
	crashPoint("placed", req.ClientOrderID, string(req.Side)+" "+req.Type)
	return rep, nil
}

// CancelOrder cancels the order and saves the account before answering.
func (p *paperAccount) CancelOrder(ctx context.Context, symbol, clientOrderID string) (executor.OrderReport, error) {
	if err := p.flush(ctx); err != nil {
		return executor.OrderReport{}, err
	}
	crashPoint("cancel", clientOrderID, "")
	rep, err := p.Exchange.CancelOrder(ctx, symbol, clientOrderID)
	if err != nil {
		return rep, err
	}
	if serr := p.Save(ctx); serr != nil {
		return executor.OrderReport{}, &executor.Error{Kind: executor.KindUnavailable,
			Msg: fmt.Sprintf("paper: order %s cancelled but the account could not be saved: %v", clientOrderID, serr)}
	}
	crashPoint("cancelled", clientOrderID, string(rep.Side)+" "+rep.Type)
	return rep, nil
}

// OnCandle feeds a candle; the account is saved before it is next read.
func (p *paperAccount) OnCandle(symbol string, c executor.Candle) error {
	if err := p.Exchange.OnCandle(symbol, c); err != nil {
		return err
	}
	p.mu.Lock()
	p.dirty = true
	p.mu.Unlock()
	return nil
}

// FetchOrder saves what a candle changed, then reads.
func (p *paperAccount) FetchOrder(ctx context.Context, symbol, clientOrderID string) (executor.OrderReport, error) {
	if err := p.flush(ctx); err != nil {
		return executor.OrderReport{}, err
	}
	return p.Exchange.FetchOrder(ctx, symbol, clientOrderID)
}

// OpenOrders saves what a candle changed, then reads.
func (p *paperAccount) OpenOrders(ctx context.Context, symbol string) ([]executor.OrderReport, error) {
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	return p.Exchange.OpenOrders(ctx, symbol)
}

// MyTrades saves what a candle changed, then reads.
func (p *paperAccount) MyTrades(ctx context.Context, symbol string, since time.Time) ([]executor.Trade, error) {
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	return p.Exchange.MyTrades(ctx, symbol, since)
}

// Balances saves what a candle changed, then reads.
func (p *paperAccount) Balances(ctx context.Context) (map[string]executor.Balance, error) {
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	return p.Exchange.Balances(ctx)
}
