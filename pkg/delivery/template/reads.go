package template

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"text/template/parse"
)

// Reads is what each part of a message reads from its Data; absent parts read nothing.
type Reads struct {
	Subject, Text, HTML, Payload PartReads
}

// PartReads is what one part reads, found in its parse trees without rendering it.
type PartReads struct {
	// Attributes are the names of the attributes read, sorted: .Attributes.x and
	// index .Attributes "x", wherever they appear.
	Attributes []string
	// Identifiers are the identifier types read, sorted: .Identifiers.Email.
	Identifiers []string
	// Dynamic are the reads whose names are only known when the part renders (index with a
	// variable key, a range over .Attributes, .Attributes handed whole to a function), each as
	// its position and source: `text:2:14: index .Attributes $name`.
	Dynamic []string
}

// Attributes returns the attributes any part reads, sorted.
func (r Reads) Attributes() []string {
	var all []string
	for _, p := range []PartReads{r.Subject, r.Text, r.HTML, r.Payload} {
		all = append(all, p.Attributes...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// Reads returns what each part of the message reads from its Data.
func (m *Message) Reads() Reads {
	var r Reads
	for part, dst := range map[Part]*PartReads{
		PartSubject: &r.Subject, PartText: &r.Text, PartHTML: &r.HTML, PartPayload: &r.Payload,
	} {
		if a := m.analyses[part]; a != nil {
			*dst = PartReads{
				Attributes:  slices.Clone(a.reads.Attributes),
				Identifiers: slices.Clone(a.reads.Identifiers),
				Dynamic:     slices.Clone(a.reads.Dynamic),
			}
		}
	}
	return r
}

// analysis is what walking a part's trees found: its reads, and what Check reports.
type analysis struct {
	reads PartReads
	// unknownFields are reads of fields Data does not have (.Attrs), as position and field.
	unknownFields []located
	// trackTargets are the constant targets passed to track.
	trackTargets []located
	// openPixels are the positions of the calls of openPixel.
	openPixels []string
}

type located struct{ where, what string }

// kind is what the walker knows of a value: the Data itself, one of its two maps, or anything
// else (an attribute's value, a helper's result), which it does not follow.
type kind int

const (
	other kind = iota
	data
	attributes
	identifiers
)

type value struct {
	kind kind
	// constant is the text of a string constant, when isConstant: index keys and track targets.
	constant   string
	isConstant bool
}

type scope struct {
	dot  value
	vars map[string]value
}

// child returns the scope of a nested list: variables declared inside it end with it.
func (s scope) child() scope {
	return scope{dot: s.dot, vars: maps.Clone(s.vars)}
}

// dataFields are the fields a template may read from Data.
var dataFields = func() map[string]bool {
	fields := map[string]bool{}
	t := reflect.TypeFor[Data]()
	for i := range t.NumField() {
		fields[t.Field(i).Name] = true
	}
	return fields
}()

type walker struct {
	trees       map[string]*parse.Tree
	tree        *parse.Tree
	attributes  map[string]bool
	identifiers map[string]bool
	dynamic     map[string]bool
	visited     map[templateCall]bool
	result      *analysis
}

// templateCall is a {{ template }} call already walked: the same template with the same kind of
// dot reads the same names.
type templateCall struct {
	name string
	dot  kind
}

// analyze walks main, and the templates it calls from trees, following what dot and each
// variable hold, to find every name the part reads.
func analyze(main *parse.Tree, trees map[string]*parse.Tree) *analysis {
	w := &walker{
		trees:       trees,
		tree:        main,
		attributes:  map[string]bool{},
		identifiers: map[string]bool{},
		dynamic:     map[string]bool{},
		visited:     map[templateCall]bool{},
		result:      &analysis{},
	}
	root := value{kind: data}
	w.list(main.Root, scope{dot: root, vars: map[string]value{"$": root}})
	w.result.reads.Attributes = slices.Sorted(maps.Keys(w.attributes))
	w.result.reads.Identifiers = slices.Sorted(maps.Keys(w.identifiers))
	return w.result
}

func (w *walker) list(l *parse.ListNode, s scope) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			v := w.pipe(n.Pipe, s, true)
			if len(n.Pipe.Decl) == 0 {
				w.escape(n, v)
			}
		case *parse.IfNode:
			inner := s.child()
			w.pipe(n.Pipe, inner, true)
			w.list(n.List, inner.child())
			w.list(n.ElseList, inner.child())
		case *parse.WithNode:
			inner := s.child()
			dot := w.pipe(n.Pipe, inner, true)
			body := inner.child()
			body.dot = dot
			w.list(n.List, body)
			w.list(n.ElseList, inner.child())
		case *parse.RangeNode:
			inner := s.child()
			if over := w.pipe(n.Pipe, inner, false); over.kind != other {
				w.addDynamic(n.Pipe, "range over ")
			}
			for _, d := range n.Pipe.Decl {
				inner.vars[d.Ident[0]] = value{}
			}
			body := inner.child()
			body.dot = value{}
			w.list(n.List, body)
			w.list(n.ElseList, inner.child())
		case *parse.TemplateNode:
			w.template(n, s)
		}
	}
}

func (w *walker) template(n *parse.TemplateNode, s scope) {
	var dot value
	if n.Pipe != nil {
		dot = w.pipe(n.Pipe, s, true)
	}
	tree := w.trees[n.Name]
	call := templateCall{n.Name, dot.kind}
	// An undefined template fails when the part renders, and Check reports it there.
	if tree == nil || w.visited[call] {
		return
	}
	w.visited[call] = true
	caller := w.tree
	w.tree = tree
	w.list(tree.Root, scope{dot: dot, vars: map[string]value{"$": dot}})
	w.tree = caller
}

// pipe evaluates a pipeline and, when bind is set, assigns its value to the variables it
// declares (a range binds its own, to the elements).
func (w *walker) pipe(p *parse.PipeNode, s scope, bind bool) value {
	var piped *value
	for _, cmd := range p.Cmds {
		v := w.command(cmd, s, piped)
		piped = &v
	}
	if bind {
		for _, d := range p.Decl {
			s.vars[d.Ident[0]] = *piped
		}
	}
	return *piped
}

func (w *walker) command(cmd *parse.CommandNode, s scope, piped *value) value {
	args := make([]value, 0, len(cmd.Args))
	for _, a := range cmd.Args[1:] {
		args = append(args, w.operand(a, s))
	}
	if piped != nil {
		args = append(args, *piped)
	}
	if fn, ok := cmd.Args[0].(*parse.IdentifierNode); ok {
		return w.call(cmd, fn.Ident, args)
	}
	// A field followed by arguments is a method call: .Attributes.joined.Format "1月2日".
	for _, a := range args {
		w.escape(cmd, a)
	}
	return w.operand(cmd.Args[0], s)
}

func (w *walker) operand(n parse.Node, s scope) value {
	switch n := n.(type) {
	case *parse.DotNode:
		return s.dot
	case *parse.FieldNode:
		return w.follow(n, s.dot, n.Ident)
	case *parse.VariableNode:
		return w.follow(n, s.vars[n.Ident[0]], n.Ident[1:])
	case *parse.ChainNode:
		return w.follow(n, w.operand(n.Node, s), n.Field)
	case *parse.PipeNode:
		return w.pipe(n, s.child(), true)
	case *parse.StringNode:
		return value{constant: n.Text, isConstant: true}
	case *parse.IdentifierNode:
		return w.call(n, n.Ident, nil)
	}
	return value{}
}

// follow evaluates a chain of field names from v.
func (w *walker) follow(n parse.Node, v value, fields []string) value {
	for _, field := range fields {
		switch v.kind {
		case data:
			switch field {
			case "Attributes":
				v = value{kind: attributes}
				continue
			case "Identifiers":
				v = value{kind: identifiers}
				continue
			}
			if !dataFields[field] {
				w.result.unknownFields = append(w.result.unknownFields, located{w.where(n), field})
			}
		case attributes:
			w.attributes[field] = true
		case identifiers:
			w.identifiers[field] = true
		}
		v = value{}
	}
	return v
}

func (w *walker) call(n parse.Node, function string, args []value) value {
	switch function {
	case "index":
		if len(args) == 0 {
			return value{}
		}
		v := args[0]
		for _, key := range args[1:] {
			w.escape(n, key)
			switch {
			case v.kind == attributes && key.isConstant:
				w.attributes[key.constant] = true
			case v.kind == identifiers && key.isConstant:
				w.identifiers[key.constant] = true
			case v.kind == attributes || v.kind == identifiers:
				w.addDynamic(n, "")
			}
			v = value{}
		}
		return v
	case "track":
		for _, a := range args {
			if a.isConstant {
				w.result.trackTargets = append(w.result.trackTargets, located{w.where(n), a.constant})
			}
		}
	case "openPixel":
		w.result.openPixels = append(w.result.openPixels, w.where(n))
	}
	for _, a := range args {
		w.escape(n, a)
	}
	return value{}
}

// escape notes a map, or the whole Data, that is printed or handed to a function: whatever it
// reads is chosen when the part renders.
func (w *walker) escape(n parse.Node, v value) {
	if v.kind != other {
		w.addDynamic(n, "")
	}
}

func (w *walker) addDynamic(n parse.Node, prefix string) {
	where, source := w.tree.ErrorContext(n)
	entry := fmt.Sprintf("%s: %s%s", where, prefix, source)
	if !w.dynamic[entry] {
		w.dynamic[entry] = true
		w.result.reads.Dynamic = append(w.result.reads.Dynamic, entry)
	}
}

func (w *walker) where(n parse.Node) string {
	where, _ := w.tree.ErrorContext(n)
	return where
}
