// Package template parses, checks and renders the message templates of campaigns: Go templates
// over a recipient's profile, with helpers for Japanese honorifics, yen amounts, dates in the
// recipient's zone, signed links and the open-tracking pixel.
//
// Each part is escaped for where it goes. HTML bodies use html/template's contextual escaping,
// so profile values cannot inject markup. Payloads are JSON: every value a payload prints is
// escaped as the inside of a JSON string, unless the action ends with the json helper, which
// prints a whole JSON value. Subjects and texts are plain and unescaped. A missing value renders
// empty in every part.
//
// Check finds a template's problems (a part that does not parse, a part the channel needs, an
// attribute no data source declares, a payload that is not JSON) before anything is sent.
package template

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
)

// Parts are the sources of a message's templates; empty parts are absent.
type Parts struct {
	Subject string
	Text    string
	HTML    string
	Payload string
}

// Data is what a template reads: {{ .Attributes.last_name }}, {{ .Identifiers.Email }}.
type Data struct {
	ProfileID   string
	Attributes  map[string]any
	Identifiers map[string]string
	// TimeZone is the recipient's IANA zone, used by the localDate helper; empty means UTC.
	TimeZone string
	// Links holds the signed per-recipient URLs; unsubscribeURL returns Links["unsubscribe"].
	Links map[string]string
	// LinkBuilder signs the click-tracking links of the track helper and the pixel of openPixel;
	// nil (links are not configured) leaves links as written and renders no pixel.
	LinkBuilder LinkBuilder
}

// LinkBuilder makes the recipient's signed tracking URLs.
type LinkBuilder interface {
	// ClickURL returns the link that records a click and redirects to target.
	ClickURL(target string) string
	// OpenURL returns the image whose loading records that the message was displayed.
	OpenURL() string
}

// Part names one part of a message in messages and Reads.
type Part string

// The parts of a message.
const (
	PartSubject Part = "subject"
	PartText    Part = "text"
	PartHTML    Part = "html"
	PartPayload Part = "payload"
)

// Message is a parsed set of templates. It is safe for concurrent use.
type Message struct {
	subject, text, payload *texttemplate.Template
	html                   *htmltemplate.Template
	// analyses are computed at parse time, before html/template rewrites its trees on first
	// execution, so that Reads never walks a tree another goroutine is changing.
	analyses map[Part]*analysis
}

// Rendered is a message's parts rendered for one recipient.
type Rendered struct {
	Subject, Text, HTML, Payload string
}

// Parse parses every non-empty part. The error names the part that does not parse.
func Parse(p Parts) (*Message, error) {
	m := &Message{analyses: map[Part]*analysis{}}
	var err error
	if m.subject, err = m.parseText(PartSubject, p.Subject); err != nil {
		return nil, err
	}
	if m.text, err = m.parseText(PartText, p.Text); err != nil {
		return nil, err
	}
	if m.payload, err = m.parseText(PartPayload, p.Payload); err != nil {
		return nil, err
	}
	if m.html, err = m.parseHTML(p.HTML); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Message) parseText(name Part, source string) (*texttemplate.Template, error) {
	if source == "" {
		return nil, nil
	}
	t, err := texttemplate.New(string(name)).Option("missingkey=zero").Funcs(funcs).Parse(source)
	if err != nil {
		return nil, parseError(name, err)
	}
	m.analyses[name] = analyze(t.Tree, treesOf(t.Templates()))
	printer := textPrinter
	if name == PartPayload {
		printer = jsonStringPrinter
	}
	for _, tt := range t.Templates() {
		rewrite(tt.Tree, printer)
	}
	return t, nil
}

func (m *Message) parseHTML(source string) (*htmltemplate.Template, error) {
	if source == "" {
		return nil, nil
	}
	t, err := htmltemplate.New(string(PartHTML)).Option("missingkey=zero").Funcs(funcs).Parse(source)
	if err != nil {
		return nil, parseError(PartHTML, err)
	}
	trees := map[string]*parse.Tree{}
	for _, tt := range t.Templates() {
		trees[tt.Name()] = tt.Tree
	}
	m.analyses[PartHTML] = analyze(t.Tree, trees)
	// html/template already prints a missing value as empty and escapes every value itself.
	for _, tree := range trees {
		rewrite(tree, "")
	}
	return t, nil
}

func treesOf(templates []*texttemplate.Template) map[string]*parse.Tree {
	trees := make(map[string]*parse.Tree, len(templates))
	for _, t := range templates {
		trees[t.Name()] = t.Tree
	}
	return trees
}

func parseError(name Part, err error) error {
	return fmt.Errorf("%s template does not parse: %s", name, strings.TrimPrefix(err.Error(), "template: "))
}

// Render renders the message for one recipient.
func (m *Message) Render(d Data) (Rendered, error) {
	// Helpers that need the recipient (localDate's zone, unsubscribeURL, track, openPixel)
	// receive the data as $; a pointer passes it to them without copying.
	data := &d
	var r Rendered
	var err error
	if r.Subject, err = execute(m.subject, data); err != nil {
		return Rendered{}, err
	}
	if r.Text, err = execute(m.text, data); err != nil {
		return Rendered{}, err
	}
	if r.Payload, err = execute(m.payload, data); err != nil {
		return Rendered{}, err
	}
	if m.html != nil {
		var buf bytes.Buffer
		if err := m.html.Execute(&buf, data); err != nil {
			return Rendered{}, fmt.Errorf("render html: %w", err)
		}
		r.HTML = buf.String()
	}
	return r, nil
}

func execute(t *texttemplate.Template, d *Data) (string, error) {
	if t == nil {
		return "", nil
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return "", fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return buf.String(), nil
}

// Missing returns the required attributes d lacks, in the order given. An attribute is present
// when it has a value that is not an empty or blank string.
func Missing(required []string, d Data) []string {
	var missing []string
	for _, name := range required {
		v, ok := d.Attributes[name]
		if s, isString := v.(string); !ok || v == nil || isString && strings.TrimSpace(s) == "" {
			missing = append(missing, name)
		}
	}
	return missing
}

// rewrite prepares a parsed tree for rendering: calls of the helpers that need the recipient
// get $ (the Data) as their first argument, and, when printer is set, every action that prints
// ends with printer, which turns a missing value into an empty string (text/template would
// print "<no value>") and, in payloads, escapes the value for a JSON string.
func rewrite(tree *parse.Tree, printer string) {
	// Nodes are collected before any is changed, so that the calls this adds are not
	// rewritten again.
	var commands []*parse.CommandNode
	var actions []*parse.ActionNode
	walkNodes(tree.Root, func(n parse.Node) {
		switch n := n.(type) {
		case *parse.CommandNode:
			commands = append(commands, n)
		case *parse.ActionNode:
			actions = append(actions, n)
		}
	})
	for _, cmd := range commands {
		passDataToHelpers(cmd)
	}
	if printer == "" {
		return
	}
	for _, action := range actions {
		if len(action.Pipe.Decl) > 0 || printer == textPrinter && !mayPrintNil(action.Pipe) ||
			printer == jsonStringPrinter && lastFunction(action.Pipe) == "json" {
			continue
		}
		action.Pipe.Cmds = append(action.Pipe.Cmds, &parse.CommandNode{
			NodeType: parse.NodeCommand,
			Pos:      action.Pos,
			Args:     []parse.Node{parse.NewIdentifier(printer).SetTree(tree).SetPos(action.Pos)},
		})
	}
}

func passDataToHelpers(cmd *parse.CommandNode) {
	root := func(pos parse.Pos) parse.Node {
		return &parse.VariableNode{NodeType: parse.NodeVariable, Pos: pos, Ident: []string{"$"}}
	}
	for i, arg := range cmd.Args[1:] {
		// A helper named as an argument ({{ printf "%s" unsubscribeURL }}) is a call without
		// arguments; it becomes the parenthesised call (unsubscribeURL $).
		if ident, ok := arg.(*parse.IdentifierNode); ok && dataHelpers[ident.Ident] {
			cmd.Args[i+1] = &parse.PipeNode{NodeType: parse.NodePipe, Pos: ident.Pos, Cmds: []*parse.CommandNode{{
				NodeType: parse.NodeCommand, Pos: ident.Pos, Args: []parse.Node{ident, root(ident.Pos)},
			}}}
		}
	}
	if ident, ok := cmd.Args[0].(*parse.IdentifierNode); ok && dataHelpers[ident.Ident] {
		cmd.Args = append([]parse.Node{ident, root(ident.Pos)}, cmd.Args[1:]...)
	}
}

// lastFunction returns the function a pipeline ends with, or "" when it ends with a value.
func lastFunction(pipe *parse.PipeNode) string {
	if ident, ok := pipe.Cmds[len(pipe.Cmds)-1].Args[0].(*parse.IdentifierNode); ok {
		return ident.Ident
	}
	return ""
}

// mayPrintNil says whether a pipeline can end with a missing value: only a field, a variable or
// a function that passes a value through can. The text printer is one more function call per
// action, which text/template makes through reflection, so actions that cannot print "<no value>"
// go without it.
func mayPrintNil(pipe *parse.PipeNode) bool {
	switch lastFunction(pipe) {
	case "", "index", "and", "or", "call", "slice":
		return true
	}
	return false
}

// walkNodes calls visit on every node under n, the commands of nested pipelines included.
func walkNodes(n parse.Node, visit func(parse.Node)) {
	visit(n)
	switch n := n.(type) {
	case *parse.ListNode:
		for _, c := range n.Nodes {
			walkNodes(c, visit)
		}
	case *parse.ActionNode:
		walkNodes(n.Pipe, visit)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.TemplateNode:
		if n.Pipe != nil {
			walkNodes(n.Pipe, visit)
		}
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			walkNodes(c, visit)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkNodes(a, visit)
		}
	case *parse.ChainNode:
		walkNodes(n.Node, visit)
	}
}

func walkBranch(b *parse.BranchNode, visit func(parse.Node)) {
	walkNodes(b.Pipe, visit)
	walkNodes(b.List, visit)
	if b.ElseList != nil {
		walkNodes(b.ElseList, visit)
	}
}
