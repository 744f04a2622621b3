package storage_test

import (
	"context"
	"errors"
	"testing"

	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

func gwUser(t *testing.T, db *storage.DB, name string) int64 {
	t.Helper()
	u := &storage.User{GroupID: 1, Username: name, Email: name + "@x.test", PasswordHash: "x"}
	if err := db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func gwMake(t *testing.T, db *storage.DB, owner int64, label string, leasable bool, ms ...storage.GatewayMethod) *storage.Gateway {
	t.Helper()
	g := &storage.Gateway{OwnerID: owner, Label: label, Interface: "email", Provider: "smtp", Host: "smtp." + label + ".test",
		Port: 587, SSLPort: 465, PasswordEnc: "sealed", Encryption: "tls", Enabled: true, Leasable: leasable,
		TimeoutMS: 60000, ConnectTimeoutMS: 60000, Methods: ms}
	if err := db.CreateGateway(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGatewayOwnershipAndMethods(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	a, b := gwUser(t, db, "a"), gwUser(t, db, "b")
	g := gwMake(t, db, a, "own", false,
		storage.GatewayMethod{Channel: "email", Detail: "ops@a.test", Priority: 2},
		storage.GatewayMethod{Channel: "sms", Detail: "+4512345678"})
	if g.Methods[0].ID == 0 || g.Methods[1].ID == 0 {
		t.Fatalf("method ids not set: %+v", g.Methods)
	}
	if _, err := db.GatewayByID(ctx, g.ID, b); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("another owner reads it: %v", err)
	}
	if _, err := db.GatewayByID(ctx, g.ID, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the platform reads a tenant's gateway: %v", err)
	}
	got, err := db.GatewayByID(ctx, g.ID, a)
	if err != nil || len(got.Methods) != 2 || got.Methods[0].Detail != "ops@a.test" || got.Methods[1].Priority != 0 {
		t.Fatalf("owner reads %+v %v", got, err)
	}

	// Update by another owner: not found, nothing changes.
	evil := *got
	evil.OwnerID, evil.Label = b, "stolen"
	if err := db.UpdateGateway(ctx, &evil, true); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("another owner updates it: %v", err)
	}
	got.Label = "renamed"
	got.Methods = []storage.GatewayMethod{{Channel: "call", Detail: "+4587654321", Priority: 1}}
	if err := db.UpdateGateway(ctx, got, true); err != nil {
		t.Fatal(err)
	}
	got, _ = db.GatewayByID(ctx, g.ID, a)
	if got.Label != "renamed" || len(got.Methods) != 1 || got.Methods[0].Channel != "call" {
		t.Fatalf("after update: %+v", got)
	}
	m := storage.GatewayMethod{Channel: "sms", Detail: "+4511111111"}
	if err := db.AddGatewayMethod(ctx, g.ID, b, &m); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("another owner adds a method: %v", err)
	}
	if err := db.AddGatewayMethod(ctx, g.ID, a, &m); err != nil || m.ID == 0 {
		t.Fatalf("add method: %v %+v", err, m)
	}
	if err := db.DeleteGatewayMethod(ctx, g.ID, b, m.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("another owner deletes a method: %v", err)
	}
	if err := db.DeleteGatewayMethod(ctx, g.ID, a, m.ID); err != nil {
		t.Fatal(err)
	}

	// Listing: per owner and interface, paginated, with the total.
	gwMake(t, db, a, "second", false)
	gwMake(t, db, b, "bobs", false)
	list, total, err := db.Gateways(ctx, storage.GatewayFilter{OwnerID: a, Interface: "email", Limit: 1, Offset: 1})
	if err != nil || total != 2 || len(list) != 1 || list[0].Label != "second" {
		t.Fatalf("page: %+v %d %v", list, total, err)
	}

	if err := db.DeleteGateway(ctx, g.ID, b); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("another owner deletes it: %v", err)
	}
	if err := db.DeleteGateway(ctx, g.ID, a); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GatewayByID(ctx, g.ID, a); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted gateway still there: %v", err)
	}
}

func TestGatewayBindingAndRoute(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	a, b := gwUser(t, db, "a"), gwUser(t, db, "b")
	own := gwMake(t, db, a, "own", false)
	bobs := gwMake(t, db, b, "bobs", false)
	lease := gwMake(t, db, 0, "lease", true)
	private := gwMake(t, db, 0, "private", false)

	if _, err := db.RouteGateway(ctx, a); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("route without binding: %v", err)
	}
	for _, id := range []int64{bobs.ID, private.ID, 9999} {
		if err := db.BindGateway(ctx, a, id); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("bound gateway %d: %v", id, err)
		}
	}
	if err := db.BindGateway(ctx, a, own.ID); err != nil {
		t.Fatal(err)
	}
	// Binding again replaces the binding (one per user).
	if err := db.BindGateway(ctx, a, lease.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.BindGateway(ctx, a, lease.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.BindGateway(ctx, b, lease.ID); err != nil {
		t.Fatal(err)
	}
	if id, err := db.BoundGatewayID(ctx, a); err != nil || id != lease.ID {
		t.Fatalf("bound = %d %v", id, err)
	}
	g, err := db.RouteGateway(ctx, a)
	if err != nil || g.ID != lease.ID || g.Host != "smtp.lease.test" || g.PasswordEnc != "sealed" {
		t.Fatalf("route = %+v %v", g, err)
	}

	// Disabled: bound but no route.
	lease.Enabled = false
	if err := db.UpdateGateway(ctx, lease, false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RouteGateway(ctx, a); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("route through a disabled gateway: %v", err)
	}
	if id, err := db.BoundGatewayID(ctx, a); err != nil || id != lease.ID {
		t.Fatalf("a disabled gateway stays bound: %d %v", id, err)
	}
	// No longer leasable: the lessees lose their binding.
	lease.Enabled, lease.Leasable = true, false
	if err := db.UpdateGateway(ctx, lease, false); err != nil {
		t.Fatal(err)
	}
	for _, u := range []int64{a, b} {
		if _, err := db.BoundGatewayID(ctx, u); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("user %d still bound to an unleased gateway: %v", u, err)
		}
	}

	// Deleting the bound gateway removes the binding.
	if err := db.BindGateway(ctx, a, own.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteGateway(ctx, own.ID, a); err != nil {
		t.Fatal(err)
	}
	if _, err := db.BoundGatewayID(ctx, a); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("binding survives its gateway: %v", err)
	}
	if err := db.UnbindGateway(ctx, a); err != nil {
		t.Fatalf("unbind with nothing bound: %v", err)
	}
}
