package storage

import (
	"context"
	"database/sql"
)

// Feedback on list mail: a bounce, complaint or unsubscription of a message sent for a
// subscriber of a list (messages.list_id, subscriber_id) updates that subscriber in that
// list, in the transaction of the event.

func init() {
	eventHooks = append(eventHooks, listFeedbackHook)
}

// messageAudience returns the list and subscriber a message was sent for (0, 0: none).
func messageAudience(ctx context.Context, tx *sqlxTx, ev *Event) (listID, subscriberID int64, err error) {
	if ev.message != nil {
		return ev.message.ListID, ev.message.SubscriberID, nil
	}
	row := tx.QueryRowxContext(ctx, "SELECT list_id, subscriber_id FROM messages WHERE id = ?", ev.MessageID)
	err = row.Scan(&listID, &subscriberID)
	if err == sql.ErrNoRows {
		return 0, 0, nil
	}
	return listID, subscriberID, err
}

// listFeedbackHook: a bounced event sets the subscriber's bounce type (Hard for a 5xx reply
// or a DSN without a code, never back from Hard to Soft); a complaint unsubscribes the
// subscriber and adds a Complaint entry to the list's suppression list.
func listFeedbackHook(ctx context.Context, tx *sqlxTx, evs []*Event) error {
	for _, ev := range evs {
		if err := listFeedback(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

func listFeedback(ctx context.Context, tx *sqlxTx, ev *Event) error {
	if ev.Type != EventBounced && ev.Type != EventComplained {
		return nil
	}
	listID, subID, err := messageAudience(ctx, tx, ev)
	if err != nil || listID == 0 || subID == 0 {
		return err
	}
	ts := now()
	if ev.Type == EventBounced {
		bt := BounceSoft
		if ev.Code == 0 || ev.Code >= 500 {
			bt = BounceHard
		}
		_, err := tx.ExecContext(ctx, "UPDATE subscribers SET bounce_type = ?, updated_at = ? WHERE id = ? AND list_id = ? AND bounce_type <> 'Hard'",
			bt, ts, subID, listID)
		return err
	}
	_, err = unsubscribeSubscriber(ctx, tx, ev, listID, subID, SuppressComplaint, true)
	return err
}

// unsubscribeSubscriber marks the subscriber Unsubscribed and, when suppress is set or the
// list asks for it (OptOutAddToSuppressionList), adds the address to the list's own
// suppression list. It reports whether the subscriber was not unsubscribed until now.
func unsubscribeSubscriber(ctx context.Context, tx *sqlxTx, ev *Event, listID, subID int64, source string, suppress bool) (bool, error) {
	ts := now()
	res, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = ?, unsubscription_date = ?, unsubscription_ip = ?,
		updated_at = ? WHERE id = ? AND list_id = ? AND status <> ?`, StatusUnsubscribed, ts, ev.IP, ts, subID, listID, StatusUnsubscribed)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	var userID int64
	var optOut bool
	row := tx.QueryRowxContext(ctx, "SELECT user_id, opt_out_add_to_suppression FROM subscriber_lists WHERE id = ?", listID)
	if err := row.Scan(&userID, &optOut); err == sql.ErrNoRows {
		return n > 0, nil
	} else if err != nil {
		return false, err
	}
	if suppress || optOut {
		if _, err := Suppress(ctx, tx, Suppression{UserID: userID, ListID: listID, Email: ev.Email, Source: source}); err != nil {
			return false, err
		}
	}
	return n > 0, nil
}
