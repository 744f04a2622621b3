package commands

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Subscriber import and export jobs (octeth-5.9.4/subscribers.md): subscribers.import.post
// and subscribers.import.get (POST/GET /api/v1/subscribers.import), subscribers.export.post
// and subscribers.export.get (POST/GET /api/v1/subscribers.export). A job is stored with its
// source, so it survives a restart; a small one runs before the answer, a large one in the
// background (one job at a time per node), in batches of importBatch rows, each batch one
// transaction with multi-row inserts.

const (
	importBatch     = 1000 // rows per committed batch
	importInlineMax = 1000 // imports of at most this many rows are done before the answer
	exportInlineMax = 5000 // exports of lists of at most this many subscribers likewise
)

func (a *App) registerSubscriberJobs(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{Name: "subscribers.import.post", Auth: dispatcher.AuthUser, Permission: "Subscribers.Import",
		RateLimited: true, RateGroup: "subscribers.import", LargeBody: true, Handler: a.importPost})
	r.Register(&dispatcher.Command{Name: "subscribers.import.get", Auth: dispatcher.AuthUser, Permission: "Subscribers.Import",
		RateLimited: true, RateGroup: "subscribers.import", Handler: a.importGet})
	r.Register(&dispatcher.Command{Name: "subscribers.export.post", Auth: dispatcher.AuthUser, Permission: "Subscribers.Import",
		RateLimited: true, RateGroup: "subscribers.export", Handler: a.exportPost})
	r.Register(&dispatcher.Command{Name: "subscribers.export.get", Auth: dispatcher.AuthUser, Permission: "Subscribers.Import",
		RateLimited: true, RateGroup: "subscribers.export", Handler: a.exportGet})
}

// importSpec is what an import job keeps besides its source: how to read it.
type importSpec struct {
	Format        string            `json:"format"` // csv | json
	Terminator    string            `json:"terminator"`
	Mapped        map[string]string `json:"mapped"` // column (FIELDn or header name / JSON key) -> EmailAddress or field id
	TagIDs        []int64           `json:"tag_ids"`
	Update        bool              `json:"update"`
	SuppressList  bool              `json:"suppress_list"`
	SuppressGlobe bool              `json:"suppress_global"`
}

func importFail(code int, msg string) *dispatcher.Error {
	return subIssue(dispatcher.KindInvalid, code, msg)
}

// importFlag reads one of the required booleans (missing: missingCode, not a boolean: badCode).
func importFlag(p dispatcher.Params, name string, missingCode, badCode int) (bool, *dispatcher.Error) {
	v, ok := dispatcher.Lookup(p.Tree(), name)
	if !ok || v == nil {
		return false, importFail(missingCode, "Missing "+name+" parameter")
	}
	b, ok := dispatcher.AsBool(v)
	if !ok {
		return false, importFail(badCode, "Invalid "+name+" parameter")
	}
	return b, nil
}

// importPost: codes as subscribers.import.post's table.
func (a *App) importPost(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, importFail(1, "Missing ListID parameter")
	}
	listID, ok := p.IntOK("ListID")
	if !ok || listID <= 0 {
		return nil, importFail(20, "Invalid ListID parameter")
	}
	var spec importSpec
	var ferr *dispatcher.Error
	if spec.SuppressGlobe, ferr = importFlag(p, "AddToGlobalSuppressionList", 4, 9); ferr != nil {
		return nil, ferr
	}
	if spec.SuppressList, ferr = importFlag(p, "AddToSuppressionList", 5, 10); ferr != nil {
		return nil, ferr
	}
	if spec.Update, ferr = importFlag(p, "UpdateDuplicates", 6, 11); ferr != nil {
		return nil, ferr
	}
	if _, ferr = importFlag(p, "TriggerActions", 7, 12); ferr != nil {
		return nil, ferr
	}
	tagsV, ok := dispatcher.Lookup(p.Tree(), "Tags")
	if !ok || tagsV == nil {
		return nil, importFail(21, "Missing Tags parameter")
	}
	tagNames, ok := stringList(tagsV)
	if !ok {
		return nil, importFail(21, "Missing Tags parameter")
	}
	from, _ := p.Value("ImportFrom").(map[string]any)
	csvV, hasCSV := dispatcher.Lookup(from, "CSV")
	jsonV, hasJSON := dispatcher.Lookup(from, "JSON")
	var src map[string]any
	switch {
	case hasCSV:
		src, _ = csvV.(map[string]any)
		spec.Format = "csv"
	case hasJSON:
		src, _ = jsonV.(map[string]any)
		spec.Format = "json"
	}
	if src == nil {
		return nil, importFail(14, "ImportFrom source must be provided")
	}
	sp := dispatcher.NewParams(src)
	var data []byte
	switch {
	case sp.Has("Data"):
		if spec.Format == "json" {
			if s, isStr := sp.Value("Data").(string); isStr {
				data = []byte(s)
			} else {
				data, _ = json.Marshal(dispatcher.Normalize(sp.Value("Data")))
			}
		} else {
			data = []byte(sp.String("Data"))
		}
	case sp.Has("URL"):
		return nil, importFail(18, "ImportFrom.CSV.URL remote data fetch failure: gatewayd imports data sent with the request (ImportFrom.CSV.Data)")
	default:
		return nil, importFail(14, "ImportFrom source must be provided")
	}
	if spec.Format == "csv" {
		if !sp.Has("FieldTerminator") {
			return nil, importFail(2, "Missing FieldTerminator parameter")
		}
		if _, sent := dispatcher.Lookup(src, "EscapedBy"); !sent {
			return nil, importFail(16, "Missing EscapedBy parameter")
		}
		spec.Terminator = sp.String("FieldTerminator")
		if t := strings.ReplaceAll(spec.Terminator, `\t`, "\t"); len([]rune(t)) == 1 {
			spec.Terminator = t
		} else {
			return nil, importFail(17, "Field mapping is invalid: FieldTerminator must be one character")
		}
		if enc := sp.String("FieldEncloser"); enc != "" && enc != `"` {
			return nil, importFail(17, `Field mapping is invalid: FieldEncloser must be " or empty`)
		}
	}
	mv, sent := dispatcher.Lookup(src, "MappedFields")
	if !sent || mv == nil {
		return nil, importFail(8, "Missing MappedFields parameter")
	}
	mapped, ok := mv.(map[string]any)
	if !ok {
		return nil, importFail(13, "Invalid MappedFields parameter")
	}
	l, err := a.DB.ListByID(ctx, req.Principal.UserID, listID)
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 19, "List not found")
	}
	if err != nil {
		return nil, err
	}
	fields, err := a.DB.FieldsForList(ctx, l.UserID, l.ID, true, "id", false)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, f := range fields {
		known[f.Key()] = true
	}
	spec.Mapped = map[string]string{}
	emails := 0
	for col, target := range mapped {
		t, _ := dispatcher.AsString(target)
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			continue
		case strings.EqualFold(t, "EmailAddress"):
			emails++
			t = "EmailAddress"
		default:
			id, ok := fieldKeyID(t)
			if !ok || !known[strconv.FormatInt(id, 10)] {
				return nil, importFail(17, "Field mapping is invalid: "+t+" is not a custom field of the list")
			}
			t = strconv.FormatInt(id, 10)
		}
		spec.Mapped[col] = t
	}
	if emails != 1 {
		return nil, importFail(15, "Fields are not mapped: exactly one column must map to EmailAddress")
	}
	for _, name := range tagNames {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		t, err := a.DB.TagByName(ctx, l.ID, name)
		if isNotFound(err) {
			if !validTagName(name) {
				return nil, importFail(21, "Invalid tag name: "+name)
			}
			t = &storage.Tag{UserID: l.UserID, ListID: l.ID, Name: name}
			err = a.DB.CreateTag(ctx, t)
			if err == storage.ErrDuplicate {
				t, err = a.DB.TagByName(ctx, l.ID, name)
			}
		}
		if err != nil {
			return nil, err
		}
		spec.TagIDs = append(spec.TagIDs, t.ID)
	}
	opts, _ := json.Marshal(spec)
	job := &storage.Import{UserID: l.UserID, ListID: l.ID, Options: string(opts), Data: data}
	if err := a.DB.CreateImport(ctx, job); err != nil {
		a.Log.ErrorContext(ctx, "create import", "err", err)
		return nil, subIssue(dispatcher.KindUnprocessable, 20, "Failed to create import record")
	}
	kind := "async"
	if bytes.Count(data, []byte{'\n'}) < importInlineMax && len(data) < 1<<20 {
		kind = "sync"
		if a.jobs.claim(job.ID) {
			a.runImport(ctx, job)
			a.jobs.release(job.ID)
		}
	} else {
		a.jobs.kick(a)
	}
	return map[string]any{"ImportID": job.ID, "ImportType": kind}, nil
}

// importRow is one row of an import's source: get(col) finds a mapped column's value.
type importRow interface {
	get(col string) (string, bool)
}

// jsonImportRow is an object of a JSON source.
type jsonImportRow map[string]string

func (r jsonImportRow) get(col string) (string, bool) { return lookupCol(r, col) }

// csvImportRow is a CSV record; its columns are named FIELD1, FIELD2 ... and, when the
// source has a header row, by their header names too (a header name before FIELDn, an exact
// name before a case-insensitive one), as a map of both would be read by lookupCol.
type csvImportRow struct {
	rec    []string
	header []string
	cols   map[string]int // resolved column index by name, per header
}

func (r *csvImportRow) index(col string) int {
	if i, ok := r.cols[col]; ok {
		return i
	}
	i := -1
	field := func(name string) (int, bool) {
		if len(name) > 5 && strings.EqualFold(name[:5], "FIELD") {
			if n, err := strconv.Atoi(name[5:]); err == nil && n > 0 && name[5] != '+' && name[5] != '0' {
				return n - 1, true
			}
		}
		return 0, false
	}
	for j := len(r.header) - 1; j >= 0 && i < 0; j-- {
		if r.header[j] == col {
			i = j
		}
	}
	if n, ok := field(col); i < 0 && ok && "FIELD"+col[5:] == col {
		i = n
	}
	for j := len(r.header) - 1; j >= 0 && i < 0; j-- {
		if strings.EqualFold(r.header[j], col) {
			i = j
		}
	}
	if n, ok := field(col); i < 0 && ok {
		i = n
	}
	if r.cols == nil {
		r.cols = map[string]int{}
	}
	r.cols[col] = i
	return i
}

func (r *csvImportRow) get(col string) (string, bool) {
	if i := r.index(col); i >= 0 && i < len(r.rec) {
		return r.rec[i], true
	}
	return "", false
}

// importRows reads a job's source row by row: CSV columns are named FIELD1, FIELD2 ... and,
// when the first row is a header (its email column holds no address), also by their header
// names; JSON is an array of objects. A CSV row is only valid during its call of fn.
func importRows(spec *importSpec, data []byte, fn func(row importRow) error) error {
	if spec.Format == "json" {
		var rows []map[string]any
		if err := json.Unmarshal(data, &rows); err != nil {
			return err
		}
		for _, r := range rows {
			m := make(jsonImportRow, len(r))
			for k, v := range r {
				s, _ := fieldText(v)
				m[k] = s
			}
			if err := fn(m); err != nil {
				return err
			}
		}
		return nil
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = []rune(spec.Terminator)[0]
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	emailCol := ""
	for col, t := range spec.Mapped {
		if t == "EmailAddress" {
			emailCol = col
		}
	}
	row := &csvImportRow{}
	first := true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		row.rec = rec
		if first {
			first = false
			if e, ok := row.get(emailCol); !ok || !compose.ValidAddress(strings.TrimSpace(e)) {
				row.header, row.cols = append([]string(nil), rec...), nil
				continue
			}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// lookupCol finds a mapped column in a row, case-insensitively.
func lookupCol(row map[string]string, col string) (string, bool) {
	if v, ok := row[col]; ok {
		return v, true
	}
	for k, v := range row {
		if strings.EqualFold(k, col) {
			return v, true
		}
	}
	return "", false
}

// appendJSONString appends s as encoding/json writes a string: the common case (printable
// ASCII that needs no escape) directly, anything else through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

var errJobStopped = errors.New("job stopped")

// runImport processes an import job from where it stopped, in batches; each batch commits
// its subscribers, tags and counters in one transaction.
func (a *App) runImport(ctx context.Context, job *storage.Import) {
	log := a.Log.With("import", job.ID)
	var spec importSpec
	if err := json.Unmarshal([]byte(job.Options), &spec); err != nil {
		log.ErrorContext(ctx, "import options", "err", err)
		_ = a.DB.FinishImport(ctx, job.ID, storage.JobFailed, "unreadable job options")
		return
	}
	var batch []storage.Subscriber
	var failedRows []string
	var failed, row int64
	flush := func() error {
		if len(batch) == 0 && failed == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return errJobStopped
		}
		_, _, err := a.DB.ApplyImportBatch(ctx, storage.ImportBatch{JobID: job.ID, ListID: job.ListID, UserID: job.UserID,
			Subs: batch, Update: spec.Update, TagIDs: spec.TagIDs, RowsDone: row, Failed: failed})
		if err != nil {
			return err
		}
		if spec.SuppressList || spec.SuppressGlobe {
			var sup []storage.Suppression
			for _, s := range batch {
				if spec.SuppressList {
					sup = append(sup, storage.Suppression{UserID: job.UserID, ListID: job.ListID, Email: s.Email, Source: storage.SuppressManual, Reason: "import"})
				}
				if spec.SuppressGlobe {
					sup = append(sup, storage.Suppression{UserID: job.UserID, Email: s.Email, Source: storage.SuppressManual, Reason: "import"})
				}
			}
			if _, err := a.DB.AddSuppressions(ctx, sup); err != nil {
				return err
			}
		}
		batch, failed = batch[:0], 0
		return nil
	}
	// The mapped columns, read once: the email column, and the custom fields in the order
	// encoding/json writes a map's keys (a field mapped twice takes one column's value).
	var emailCol string
	type fieldCol struct{ key, col string }
	var fieldCols []fieldCol
	for col, target := range spec.Mapped {
		if target == "EmailAddress" {
			emailCol = col
		} else {
			fieldCols = append(fieldCols, fieldCol{target, col})
		}
	}
	sort.Slice(fieldCols, func(i, j int) bool { return fieldCols[i].key < fieldCols[j].key })
	fieldCols = slices.CompactFunc(fieldCols, func(x, y fieldCol) bool { return x.key == y.key })
	var buf []byte
	err := importRows(&spec, job.Data, func(r importRow) error {
		row++
		if row <= job.RowsDone {
			return nil
		}
		v, _ := r.get(emailCol)
		email := strings.TrimSpace(v)
		if !compose.ValidAddress(email) {
			failed++
			if len(failedRows) < 100 {
				failedRows = append(failedRows, email)
			}
		} else {
			buf = append(buf[:0], '{')
			for i, f := range fieldCols {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = appendJSONString(buf, f.key)
				buf = append(buf, ':')
				v, _ := r.get(f.col)
				buf = appendJSONString(buf, v)
			}
			buf = append(buf, '}')
			t := timeNow().Unix()
			batch = append(batch, storage.Subscriber{Email: email, Status: storage.StatusSubscribed, Source: "CSVImport",
				SubscriptionDate: t, OptInDate: t, FieldsJSON: string(buf)})
		}
		if int64(len(batch))+failed >= importBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	switch {
	case errors.Is(err, errJobStopped):
		log.InfoContext(ctx, "import paused; it resumes at the next start")
		return
	case err != nil:
		log.ErrorContext(ctx, "import", "err", err)
		_ = a.DB.FinishImport(context.WithoutCancel(ctx), job.ID, storage.JobFailed, err.Error())
		return
	}
	if err := a.DB.FinishImport(ctx, job.ID, storage.JobCompleted, strings.Join(failedRows, "\n")); err != nil {
		log.ErrorContext(ctx, "finish import", "err", err)
	}
}

func importJobView(j *storage.Import) map[string]any {
	return map[string]any{
		"ImportID": j.ID, "ImportDate": octethTime(j.CreatedAt), "FinishedAt": octethTime(j.FinishedAt),
		"ImportStatus": j.Status, "FailedData": j.FailedData, "TotalSubscribers": j.Total,
		"TotalImported": j.Imported, "TotalDuplicates": j.Duplicates, "TotalFailed": j.Failed,
	}
}

func (a *App) importGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, importFail(1, "Missing ListID parameter")
	}
	if !p.Has("ImportID") {
		return nil, importFail(2, "Missing ImportID parameter")
	}
	listID, ok := p.IntOK("ListID")
	if !ok || listID <= 0 {
		return nil, importFail(3, "Invalid ListID parameter")
	}
	id, ok := p.IntOK("ImportID")
	if !ok || id <= 0 {
		return nil, importFail(4, "Invalid ImportID parameter")
	}
	l, err := a.DB.ListByID(ctx, req.Principal.UserID, listID)
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 5, "List not found")
	}
	if err != nil {
		return nil, err
	}
	j, err := a.DB.ImportByID(ctx, l.UserID, l.ID, id)
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 7, "Import job not found")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"ImportJob": importJobView(j)}, nil
}

// exportSpec is what an export job keeps.
type exportSpec struct {
	Format string   `json:"format"`
	Fields []string `json:"fields"`
	Rules  string   `json:"rules"`
	Op     string   `json:"op"`
	Target string   `json:"target"`
}

// exportPost: codes as subscribers.export.post's table. RulesJSON is an array here ([] for
// no filter); Target a named segment.
func (a *App) exportPost(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	for _, c := range []struct {
		name string
		code int
	}{{"ListID", 1}, {"RulesJSON", 2}, {"RulesOperator", 3}, {"ExportFormat", 4}, {"FieldsToExport", 5}} {
		if v, ok := dispatcher.Lookup(p.Tree(), c.name); !ok || v == nil || (c.name != "RulesJSON" && !p.Has(c.name)) {
			return nil, importFail(c.code, "Missing "+c.name+" parameter")
		}
	}
	listID, ok := p.IntOK("ListID")
	if !ok || listID <= 0 {
		return nil, importFail(6, "Invalid ListID parameter")
	}
	spec := exportSpec{Op: strings.ToLower(strings.TrimSpace(p.String("RulesOperator")))}
	rules := dispatcher.Normalize(p.Value("RulesJSON"))
	if s, isStr := rules.(string); isStr {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return nil, importFail(7, "Invalid RulesJSON syntax")
		}
		rules = v
	}
	if arr, isArr := rules.([]any); !isArr {
		return nil, importFail(7, "Invalid RulesJSON syntax")
	} else if len(arr) > 0 {
		b, _ := json.Marshal(arr)
		spec.Rules = string(b)
		if _, err := a.parseRules(spec.Rules, spec.Op); err != nil {
			return nil, importFail(7, "Invalid RulesJSON syntax")
		}
	}
	if spec.Op != "and" && spec.Op != "or" {
		return nil, importFail(8, `RulesOperator must be either "and" or "or"`)
	}
	spec.Format = strings.ToLower(strings.TrimSpace(p.String("ExportFormat")))
	if spec.Format != "csv" && spec.Format != "json" {
		return nil, importFail(9, `ExportFormat must be either "csv" or "json"`)
	}
	fields, ok := stringList(p.Value("FieldsToExport"))
	if !ok || len(fields) == 0 {
		return nil, importFail(5, "Missing FieldsToExport parameter")
	}
	spec.Fields = fields
	l, err := a.DB.ListByID(ctx, req.Principal.UserID, listID)
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 10, "List not found")
	}
	if err != nil {
		return nil, err
	}
	if t := p.String("Target"); t != "" {
		seg, ok := canonical(t, segments)
		if !ok {
			if _, isID := fieldKeyID(t); isID {
				return nil, subIssue(dispatcher.KindNotFound, 12, "Segment not found")
			}
			return nil, importFail(11, "Target must be valid status or segment ID")
		}
		spec.Target = seg
	}
	opts, _ := json.Marshal(spec)
	job := &storage.Export{UserID: l.UserID, ListID: l.ID, Options: string(opts)}
	if err := a.DB.CreateExport(ctx, job); err != nil {
		return nil, err
	}
	counts, err := a.DB.StatusCounts(ctx, []int64{l.ID})
	if err != nil {
		return nil, err
	}
	var n int64
	for k, v := range counts[l.ID] {
		if k == storage.StatusSubscribed || k == storage.StatusUnsubscribed || k == storage.StatusOptInPending || k == storage.StatusOptOutPending {
			n += v
		}
	}
	if n <= exportInlineMax && a.jobs.claim(-job.ID) {
		a.runExport(ctx, job)
		a.jobs.release(-job.ID)
	} else {
		a.jobs.kick(a)
	}
	return map[string]any{"ExportID": job.ID}, nil
}

// exportValue is one column of an exported subscriber: a subscriber column by its document
// name or a custom field (id or CustomFieldN).
func exportValue(s *storage.Subscriber, vals map[string]string, name string) string {
	v := subscriberView(s, nil)
	if x, ok := v[name]; ok {
		str, _ := dispatcher.AsString(x)
		return str
	}
	for k, x := range v {
		if strings.EqualFold(k, name) {
			str, _ := dispatcher.AsString(x)
			return str
		}
	}
	if id, ok := fieldKeyID(name); ok {
		return vals[strconv.FormatInt(id, 10)]
	}
	return ""
}

// runExport writes the export file and stores it with the job.
func (a *App) runExport(ctx context.Context, job *storage.Export) {
	var spec exportSpec
	_ = json.Unmarshal([]byte(job.Options), &spec)
	f := storage.SubscriberFilter{}
	if spec.Rules != "" {
		var err error
		if f, err = a.parseRules(spec.Rules, spec.Op); err != nil {
			_ = a.DB.FinishExport(ctx, job.ID, storage.JobFailed, nil)
			return
		}
	}
	f.ListID, f.Segment = job.ListID, spec.Target
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	var rows []map[string]string
	if spec.Format == "csv" {
		_ = cw.Write(spec.Fields)
	}
	err := a.DB.EachSubscriber(ctx, f, func(s *storage.Subscriber) error {
		vals := s.Fields()
		rec := make([]string, len(spec.Fields))
		for i, name := range spec.Fields {
			rec[i] = exportValue(s, vals, name)
		}
		if spec.Format == "csv" {
			return cw.Write(rec)
		}
		m := make(map[string]string, len(rec))
		for i, name := range spec.Fields {
			m[name] = rec[i]
		}
		rows = append(rows, m)
		return nil
	})
	cw.Flush()
	if spec.Format == "json" {
		if rows == nil {
			rows = []map[string]string{}
		}
		b, _ := json.Marshal(rows)
		buf.Reset()
		buf.Write(b)
	}
	status := storage.JobCompleted
	if err != nil {
		a.Log.ErrorContext(ctx, "export", "export", job.ID, "err", err)
		status = storage.JobFailed
		buf.Reset()
	}
	if err := a.DB.FinishExport(context.WithoutCancel(ctx), job.ID, status, buf.Bytes()); err != nil {
		a.Log.ErrorContext(ctx, "finish export", "export", job.ID, "err", err)
	}
}

func exportJobView(e *storage.Export) map[string]any {
	var spec exportSpec
	_ = json.Unmarshal([]byte(e.Options), &spec)
	return map[string]any{
		"ExportID": e.ID, "Module": "SubscriberExport", "Status": e.Status,
		"ExportOptions": map[string]any{"Command": "ExportSubscribers", "ListID": e.ListID, "FileFormat": spec.Format, "Fields": spec.Fields},
		"SubmittedAt":   octethTime(e.CreatedAt), "FinishedAt": octethTime(e.FinishedAt), "DownloadSize": e.Size,
	}
}

func (a *App) exportGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, importFail(1, "Missing ListID parameter")
	}
	listID, ok := p.IntOK("ListID")
	if !ok || listID <= 0 {
		return nil, importFail(2, "Invalid ListID parameter")
	}
	var id int64
	if p.Has("ExportID") {
		if id, ok = p.IntOK("ExportID"); !ok || id <= 0 {
			return nil, importFail(3, "Invalid ExportID parameter")
		}
	}
	l, err := a.DB.ListByID(ctx, req.Principal.UserID, listID)
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 4, "List not found")
	}
	if err != nil {
		return nil, err
	}
	if id == 0 {
		jobs, err := a.DB.Exports(ctx, l.UserID, l.ID)
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(jobs))
		for i := range jobs {
			out = append(out, exportJobView(&jobs[i]))
		}
		return map[string]any{"ExportJobs": out}, nil
	}
	download := p.Bool("Download")
	e, err := a.DB.ExportByID(ctx, l.UserID, l.ID, id, download)
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 6, "Export job not found")
	}
	if err != nil {
		return nil, err
	}
	if download && e.Status == storage.JobCompleted {
		ct := "text/csv; charset=utf-8"
		var spec exportSpec
		_ = json.Unmarshal([]byte(e.Options), &spec)
		if spec.Format == "json" {
			ct = "application/json"
		}
		return dispatcher.Raw{ContentType: ct, Body: e.Result}, nil
	}
	return map[string]any{"ExportJob": exportJobView(e)}, nil
}

// jobRunner runs import and export jobs one at a time in a goroutine started by the first
// kick (the server kicks it at start to resume unfinished jobs). Jobs run inline by a
// request are claimed so the runner leaves them alone.
type jobRunner struct {
	mu      sync.Mutex
	active  map[int64]bool // import ids, and export ids negated
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
}

func (r *jobRunner) claim(id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active == nil {
		r.active = map[int64]bool{}
	}
	if r.active[id] {
		return false
	}
	r.active[id] = true
	return true
}

func (r *jobRunner) release(id int64) {
	r.mu.Lock()
	delete(r.active, id)
	r.mu.Unlock()
}

// kick starts the runner when it is not running and wakes it.
func (r *jobRunner) kick(a *App) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel, r.done = cancel, make(chan struct{})
		go func() {
			defer close(r.done)
			a.runJobs(ctx)
		}()
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// stop ends the runner; a job in progress stops at its next batch and resumes at the next
// start.
func (r *jobRunner) stop() {
	r.mu.Lock()
	r.stopped = true
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// ResumeJobs starts the job runner, which picks up imports and exports left unfinished.
func (a *App) ResumeJobs() { a.jobs.kick(a) }

func (a *App) runJobs(ctx context.Context) {
	for {
		busy := false
		imports, err := a.DB.UnfinishedImports(ctx)
		if err != nil && ctx.Err() == nil {
			a.Log.ErrorContext(ctx, "unfinished imports", "err", err)
		}
		for i := range imports {
			if a.jobs.claim(imports[i].ID) {
				busy = true
				a.runImport(ctx, &imports[i])
				a.jobs.release(imports[i].ID)
			}
		}
		exports, err := a.DB.UnfinishedExports(ctx)
		if err != nil && ctx.Err() == nil {
			a.Log.ErrorContext(ctx, "unfinished exports", "err", err)
		}
		for i := range exports {
			if a.jobs.claim(-exports[i].ID) {
				busy = true
				a.runExport(ctx, &exports[i])
				a.jobs.release(-exports[i].ID)
			}
		}
		if busy {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-a.jobs.wake:
		case <-time.After(time.Minute):
		}
	}
}
