package storage

import (
	"context"
	"fmt"
	"strings"
)

// Gateway is an upstream: a Navixy email gateway, a B2Core mail provider and a Tenevo message
// gateway are all rows of this one table. OwnerID 0 is the platform; a platform gateway that
// is Leasable may be bound by any user. The password is stored sealed (AES-GCM under the
// server key) and is never read back by anything but the delivery route and /status.
type Gateway struct {
	ID               int64  `db:"id"`
	OwnerID          int64  `db:"owner_id"` // 0: the platform
	Leasable         bool   `db:"leasable"`
	Label            string `db:"label"`     // Navixy label = B2Core caption = Tenevo name
	Interface        string `db:"interface"` // email | twilio
	Provider         string `db:"provider"`  // smtp, mandrill_smtp, twilio ...
	Host             string `db:"host"`      // SMTP host; for twilio the API base URL
	Port             int    `db:"port"`
	SSLPort          int    `db:"ssl_port"`
	Username         string `db:"username"`
	PasswordEnc      string `db:"password_enc"`
	Encryption       string `db:"encryption"` // none | starttls (when offered) | tls (STARTTLS required) | ssl (implicit TLS)
	FromAddress      string `db:"from_address"`
	FromName         string `db:"from_name"`
	Enabled          bool   `db:"enabled"`
	TimeoutMS        int    `db:"timeout_ms"`
	ConnectTimeoutMS int    `db:"connect_timeout_ms"`
	TrustAllHosts    bool   `db:"trust_all_hosts"`
	CreatedAt        int64  `db:"created_at"`
	UpdatedAt        int64  `db:"updated_at"`

	Methods []GatewayMethod `db:"-"`
}

// GatewayMethod is one Tenevo contact method of a gateway: channel call|email|emailalert|sms,
// a detail (address or number) and a priority.
type GatewayMethod struct {
	ID        int64  `db:"id"`
	GatewayID int64  `db:"gateway_id"`
	Channel   string `db:"channel"`
	Detail    string `db:"detail"`
	Priority  int    `db:"priority"`
	CreatedAt int64  `db:"created_at"`
}

const gatewayCols = `id, owner_id, leasable, label, interface, provider, host, port, ssl_port, username,
	password_enc, encryption, from_address, from_name, enabled, timeout_ms, connect_timeout_ms, trust_all_hosts,
	created_at, updated_at`

// gatewayColsOf is gatewayCols qualified by a table alias.
func gatewayColsOf(alias string) string {
	parts := strings.Split(gatewayCols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// GatewayFilter selects gateways of one owner (0: the platform's), optionally of one interface.
type GatewayFilter struct {
	OwnerID   int64
	Interface string // "" any
	Limit     int    // 0: no limit
	Offset    int
}

// CreateGateway stores g and its methods in one transaction and sets the ids.
func (db *DB) CreateGateway(ctx context.Context, g *Gateway) error {
	defer db.gatewayChanges.Add(1)
	g.CreatedAt = now()
	g.UpdatedAt = g.CreatedAt
	return db.Tx(ctx, func(tx *sqlxTx) error {
		res, err := tx.NamedExecContext(ctx, `INSERT INTO gateways (owner_id, leasable, label, interface, provider, host,
			port, ssl_port, username, password_enc, encryption, from_address, from_name, enabled, timeout_ms,
			connect_timeout_ms, trust_all_hosts, created_at, updated_at) VALUES (:owner_id, :leasable, :label,
			:interface, :provider, :host, :port, :ssl_port, :username, :password_enc, :encryption, :from_address,
			:from_name, :enabled, :timeout_ms, :connect_timeout_ms, :trust_all_hosts, :created_at, :updated_at)`, g)
		if err != nil {
			return fmt.Errorf("insert gateway: %w", err)
		}
		if g.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return insertGatewayMethods(ctx, tx, g.ID, g.Methods)
	})
}

func insertGatewayMethods(ctx context.Context, tx *sqlxTx, gatewayID int64, ms []GatewayMethod) error {
	for i := range ms {
		m := &ms[i]
		m.GatewayID, m.CreatedAt = gatewayID, now()
		res, err := tx.ExecContext(ctx, "INSERT INTO gateway_methods (gateway_id, channel, detail, priority, created_at) VALUES (?, ?, ?, ?, ?)",
			m.GatewayID, m.Channel, m.Detail, m.Priority, m.CreatedAt)
		if err != nil {
			return fmt.Errorf("insert gateway method: %w", err)
		}
		if m.ID, err = res.LastInsertId(); err != nil {
			return err
		}
	}
	return nil
}

// GatewayByID returns one gateway of owner (0: a platform gateway) with its methods; another
// owner's gateway is ErrNotFound.
func (db *DB) GatewayByID(ctx context.Context, id, ownerID int64) (*Gateway, error) {
	var g Gateway
	if err := db.r.GetContext(ctx, &g, "SELECT "+gatewayCols+" FROM gateways WHERE id = ? AND owner_id = ?", id, ownerID); err != nil {
		return nil, notFound(err)
	}
	if err := db.loadMethods(ctx, []*Gateway{&g}); err != nil {
		return nil, err
	}
	return &g, nil
}

// Gateways lists the gateways f selects, oldest first, with their methods, and how many there
// are in all (ignoring Limit and Offset).
func (db *DB) Gateways(ctx context.Context, f GatewayFilter) ([]Gateway, int, error) {
	where := " WHERE owner_id = ?"
	args := []any{f.OwnerID}
	if f.Interface != "" {
		where += " AND interface = ?"
		args = append(args, f.Interface)
	}
	var total int
	if err := db.r.GetContext(ctx, &total, "SELECT COUNT(*) FROM gateways"+where, args...); err != nil {
		return nil, 0, err
	}
	q := "SELECT " + gatewayCols + " FROM gateways" + where + " ORDER BY id"
	if f.Limit > 0 {
		q += " LIMIT ? OFFSET ?"
		args = append(args, f.Limit, f.Offset)
	}
	gs := []Gateway{}
	if err := db.r.SelectContext(ctx, &gs, q, args...); err != nil {
		return nil, 0, err
	}
	ptrs := make([]*Gateway, len(gs))
	for i := range gs {
		ptrs[i] = &gs[i]
	}
	if err := db.loadMethods(ctx, ptrs); err != nil {
		return nil, 0, err
	}
	return gs, total, nil
}

// LeasableGateways lists the platform's leasable gateways of an interface, oldest first.
func (db *DB) LeasableGateways(ctx context.Context, iface string) ([]Gateway, error) {
	gs := []Gateway{}
	err := db.r.SelectContext(ctx, &gs, "SELECT "+gatewayCols+" FROM gateways WHERE owner_id = 0 AND leasable = 1 AND interface = ? ORDER BY id", iface)
	return gs, err
}

func (db *DB) loadMethods(ctx context.Context, gs []*Gateway) error {
	if len(gs) == 0 {
		return nil
	}
	byID := make(map[int64]*Gateway, len(gs))
	marks := make([]string, len(gs))
	args := make([]any, len(gs))
	for i, g := range gs {
		g.Methods = []GatewayMethod{}
		byID[g.ID] = g
		marks[i] = "?"
		args[i] = g.ID
	}
	var ms []GatewayMethod
	if err := db.r.SelectContext(ctx, &ms, "SELECT id, gateway_id, channel, detail, priority, created_at FROM gateway_methods WHERE gateway_id IN ("+
		strings.Join(marks, ",")+") ORDER BY id", args...); err != nil {
		return fmt.Errorf("gateway methods: %w", err)
	}
	for _, m := range ms {
		if g := byID[m.GatewayID]; g != nil {
			g.Methods = append(g.Methods, m)
		}
	}
	return nil
}

// UpdateGateway writes g's fields (its ID and OwnerID select the row; another owner's gateway
// is ErrNotFound). With replaceMethods the methods are replaced by g.Methods, in the same
// transaction.
func (db *DB) UpdateGateway(ctx context.Context, g *Gateway, replaceMethods bool) error {
	defer db.gatewayChanges.Add(1)
	g.UpdatedAt = now()
	return db.Tx(ctx, func(tx *sqlxTx) error {
		var id int64
		// Lock the row (MySQL) so two updates of one gateway do not interleave their methods.
		lock := ""
		if db.Dialect == MySQL {
			lock = " FOR UPDATE"
		}
		if err := tx.GetContext(ctx, &id, "SELECT id FROM gateways WHERE id = ? AND owner_id = ?"+lock, g.ID, g.OwnerID); err != nil {
			return notFound(err)
		}
		if _, err := tx.NamedExecContext(ctx, `UPDATE gateways SET leasable = :leasable, label = :label,
			interface = :interface, provider = :provider, host = :host, port = :port, ssl_port = :ssl_port,
			username = :username, password_enc = :password_enc, encryption = :encryption,
			from_address = :from_address, from_name = :from_name, enabled = :enabled, timeout_ms = :timeout_ms,
			connect_timeout_ms = :connect_timeout_ms, trust_all_hosts = :trust_all_hosts, updated_at = :updated_at
			WHERE id = :id AND owner_id = :owner_id`, g); err != nil {
			return fmt.Errorf("update gateway: %w", err)
		}
		if g.OwnerID == 0 && (!g.Leasable || g.Interface != "email") {
			// A platform gateway that is no longer leasable loses its lessees: their mail
			// falls back to the platform default, and a later lease starts from no binding.
			if _, err := tx.ExecContext(ctx, "DELETE FROM gateway_bindings WHERE gateway_id = ?", g.ID); err != nil {
				return err
			}
		}
		if !replaceMethods {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM gateway_methods WHERE gateway_id = ?", g.ID); err != nil {
			return err
		}
		return insertGatewayMethods(ctx, tx, g.ID, g.Methods)
	})
}

// DeleteGateway removes one of owner's gateways, its methods and every binding to it.
func (db *DB) DeleteGateway(ctx context.Context, id, ownerID int64) error {
	defer db.gatewayChanges.Add(1)
	return db.Tx(ctx, func(tx *sqlxTx) error {
		if err := affected(tx.ExecContext(ctx, "DELETE FROM gateways WHERE id = ? AND owner_id = ?", id, ownerID)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM gateway_methods WHERE gateway_id = ?", id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM gateway_bindings WHERE gateway_id = ?", id)
		return err
	})
}

// AddGatewayMethod adds a method to one of owner's gateways and sets m.ID.
func (db *DB) AddGatewayMethod(ctx context.Context, gatewayID, ownerID int64, m *GatewayMethod) error {
	return db.Tx(ctx, func(tx *sqlxTx) error {
		var id int64
		if err := tx.GetContext(ctx, &id, "SELECT id FROM gateways WHERE id = ? AND owner_id = ?", gatewayID, ownerID); err != nil {
			return notFound(err)
		}
		ms := []GatewayMethod{*m}
		if err := insertGatewayMethods(ctx, tx, gatewayID, ms); err != nil {
			return err
		}
		*m = ms[0]
		_, err := tx.ExecContext(ctx, "UPDATE gateways SET updated_at = ? WHERE id = ?", now(), gatewayID)
		return err
	})
}

// DeleteGatewayMethod removes method methodID of one of owner's gateways.
func (db *DB) DeleteGatewayMethod(ctx context.Context, gatewayID, ownerID, methodID int64) error {
	return affected(db.w.ExecContext(ctx, `DELETE FROM gateway_methods WHERE id = ? AND gateway_id = ?
		AND gateway_id IN (SELECT id FROM gateways WHERE id = ? AND owner_id = ?)`, methodID, gatewayID, gatewayID, ownerID))
}

// visibleTo is the condition that a gateway row g may be bound by user ?: the user's own, or a
// leasable platform gateway; email gateways only (the others cannot carry mail).
const visibleTo = "g.interface = 'email' AND (g.owner_id = ? OR (g.owner_id = 0 AND g.leasable = 1))"

// BindGateway makes gatewayID the user's route. The gateway must be the user's own or a
// leasable platform gateway, of the email interface; otherwise ErrNotFound and nothing changes.
func (db *DB) BindGateway(ctx context.Context, userID, gatewayID int64) error {
	defer db.gatewayChanges.Add(1)
	return db.Tx(ctx, func(tx *sqlxTx) error {
		var id int64
		if err := tx.GetContext(ctx, &id, "SELECT g.id FROM gateways g WHERE g.id = ? AND "+visibleTo, gatewayID, userID); err != nil {
			return notFound(err)
		}
		upsert := "INSERT INTO gateway_bindings (user_id, gateway_id, bound_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET gateway_id = excluded.gateway_id, bound_at = excluded.bound_at"
		if db.Dialect == MySQL {
			upsert = "INSERT INTO gateway_bindings (user_id, gateway_id, bound_at) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE gateway_id = VALUES(gateway_id), bound_at = VALUES(bound_at)"
		}
		_, err := tx.ExecContext(ctx, upsert, userID, gatewayID, now())
		return err
	})
}

// UnbindGateway removes the user's binding; having none is not an error.
func (db *DB) UnbindGateway(ctx context.Context, userID int64) error {
	defer db.gatewayChanges.Add(1)
	_, err := db.w.ExecContext(ctx, "DELETE FROM gateway_bindings WHERE user_id = ?", userID)
	return err
}

// BoundGatewayID returns the id of the gateway the user has bound, if it is still one the user
// may use (enabled or not); ErrNotFound when there is none.
func (db *DB) BoundGatewayID(ctx context.Context, userID int64) (int64, error) {
	var id int64
	err := db.r.GetContext(ctx, &id, "SELECT g.id FROM gateway_bindings b JOIN gateways g ON g.id = b.gateway_id WHERE b.user_id = ? AND "+visibleTo,
		userID, userID)
	return id, notFound(err)
}

// GatewayChanges counts the writes to gateways and bindings made through this DB (after each
// has committed or failed). A route read while it was n is stale once it is no longer n;
// another node's writes are not counted, so a cache of routes also expires them by age.
func (db *DB) GatewayChanges() int64 { return db.gatewayChanges.Load() }

// RouteGateway returns the gateway the user's outbound mail goes through: the bound gateway
// when it is enabled and still the user's own or a leasable platform one; else ErrNotFound
// (the delivery engine then uses the platform default or direct MX). The password stays
// sealed: commands.(*App).GatewayRoute opens it.
func (db *DB) RouteGateway(ctx context.Context, userID int64) (*Gateway, error) {
	var g Gateway
	err := db.r.GetContext(ctx, &g, "SELECT "+gatewayColsOf("g")+" FROM gateway_bindings b JOIN gateways g ON g.id = b.gateway_id WHERE b.user_id = ? AND g.enabled = 1 AND "+visibleTo,
		userID, userID)
	if err != nil {
		return nil, notFound(err)
	}
	return &g, nil
}
