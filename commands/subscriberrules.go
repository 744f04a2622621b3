package commands

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// RulesJSON, the filter of subscribers.search, subscribers.delete, subscriber.unsubscribe,
// subscriber.tag and subscriber.untag (and subscribers.export.post): a JSON string holding
// rule groups, [[{"type":"fields","field_id":"EmailAddress","operator":"contains","value":"x"}]].
// gatewayd evaluates "fields" rules (subscriber columns and custom fields) and "tags" rules;
// every rule found is joined with RulesOperator (and/or). A payload that is not a JSON
// string, does not parse, holds no rule with a type, holds a rule gatewayd cannot evaluate
// or nests rules three levels deep is refused, never read as "no filter".

const msgBadRules = "Invalid RulesJSON syntax. It must be a properly formatted JSON payload"

var errBadRules = errors.New("bad RulesJSON")

// rulesGiven reports a non-empty RulesJSON (an empty string is "not supplied").
func rulesGiven(v any) bool {
	if v == nil {
		return false
	}
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s) != ""
	}
	return true
}

// ruleOps maps the operator spellings the segment rules use onto storage's.
var ruleOps = map[string]string{
	"equals": "equals", "is": "equals", "=": "equals", "equal to": "equals", "is equal to": "equals",
	"not equals": "not equals", "is not": "not equals", "!=": "not equals", "not equal to": "not equals", "is not equal to": "not equals",
	"contains": "contains", "like": "contains", "includes": "contains",
	"not contains": "not contains", "does not contain": "not contains", "not like": "not contains",
	"begins with": "begins with", "starts with": "begins with", "ends with": "ends with",
	"is set": "is set", "is not empty": "is set", "not empty": "is set",
	"is not set": "is not set", "is empty": "is not set", "empty": "is not set",
	"greater than": "greater than", "is greater than": "greater than", ">": "greater than",
	"less than": "less than", "is less than": "less than", "<": "less than",
}

var tagOps = map[string]string{
	"is": "is", "has": "is", "equals": "is", "=": "is", "": "is", "tagged": "is", "is tagged": "is",
	"is not": "is not", "has not": "is not", "does not have": "is not", "!=": "is not", "not tagged": "is not", "is not tagged": "is not",
}

// parseRules reads RulesJSON and RulesOperator into a filter (ListID left for the caller).
func (a *App) parseRules(v any, operator string) (storage.SubscriberFilter, error) {
	f := storage.SubscriberFilter{Any: strings.EqualFold(strings.TrimSpace(operator), "or")}
	s, ok := v.(string)
	if !ok {
		return f, errBadRules
	}
	var doc any
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return f, errBadRules
	}
	var walk func(x any, depth int) error
	walk = func(x any, depth int) error {
		switch t := x.(type) {
		case []any:
			for _, it := range t {
				if err := walk(it, depth+1); err != nil {
					return err
				}
			}
		case map[string]any:
			typ, has := t["type"]
			if !has {
				return nil
			}
			if depth > 2 {
				return errBadRules
			}
			r, err := ruleOf(typ, t)
			if err != nil {
				return err
			}
			f.Rules = append(f.Rules, r)
		default:
			return errBadRules
		}
		return nil
	}
	if err := walk(doc, 0); err != nil || len(f.Rules) == 0 {
		return f, errBadRules
	}
	if err := a.DB.CheckFilter(f); err != nil {
		return f, errBadRules
	}
	return f, nil
}

func ruleOf(typ any, m map[string]any) (storage.Rule, error) {
	str := func(k string) string {
		v, _ := dispatcher.Lookup(m, k)
		s, _ := dispatcher.AsString(v)
		return strings.TrimSpace(s)
	}
	kind, _ := dispatcher.AsString(typ)
	op := strings.ToLower(str("operator"))
	switch strings.ToLower(strings.TrimSpace(kind)) {
	case "fields", "field":
		field := str("field_id")
		if id, ok := fieldKeyID(field); ok {
			field = strconv.FormatInt(id, 10)
		} else if !storage.SubscriberColumn(field) {
			return storage.Rule{}, errBadRules
		}
		o, ok := ruleOps[op]
		if !ok {
			return storage.Rule{}, errBadRules
		}
		return storage.Rule{Field: field, Op: o, Value: str("value")}, nil
	case "tags", "tag":
		o, ok := tagOps[op]
		if !ok {
			return storage.Rule{}, errBadRules
		}
		id := str("tag_id")
		if id == "" {
			id = str("value")
		}
		if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
			return storage.Rule{}, errBadRules
		}
		return storage.Rule{Tag: true, Op: o, Value: id}, nil
	}
	return storage.Rule{}, errBadRules
}
