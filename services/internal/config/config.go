package config

import (
	"encoding"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the environment variable of every key.
const EnvPrefix = "ALPCRUNCH_"

// Validator is implemented by every service configuration. Validate reports
// every problem at once, each naming its key (see Problems).
type Validator interface {
	Validate() error
}

// LoadOS is Load with the process's arguments and environment, on a new
// flag set named after the program that prints usage to stderr.
func LoadOS(cfg Validator) error {
	fs := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	return Load(cfg, fs, os.Args[1:], os.LookupEnv)
}

// Load fills cfg, a pointer to a struct holding the service's defaults,
// from the YAML file, the environment (read through lookupEnv) and args
// parsed with fs, then calls cfg.Validate. It registers a "config" flag and
// one flag per key on fs, which may already hold flags of the caller's.
//
// The error joins every problem found, each naming its key and where the
// bad value came from, so the caller prints it and exits non-zero. When
// args ask for help, Load returns flag.ErrHelp after fs printed the usage.
// Flag syntax errors are also printed by fs, as flag.FlagSet does.
func Load(cfg Validator, fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) error {
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Load needs a pointer to a struct, got %T", cfg)
	}
	fields := map[string]*field{}
	var order []*field
	if err := collect(rv.Elem(), "", fields, &order); err != nil {
		return err
	}

	path, flagArgs, err := registerFlags(fs, order)
	if err != nil {
		return err
	}
	var errs []error
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		errs = append(errs, fmt.Errorf("config: %w", err))
	}
	for _, a := range fs.Args() {
		errs = append(errs, fmt.Errorf("config: unexpected argument %q", a))
	}

	if *path == "" {
		*path, _ = lookupEnv(EnvPrefix + "CONFIG")
	}
	if *path != "" {
		errs = append(errs, loadFile(*path, fields)...)
	}

	for _, f := range order {
		for _, name := range []string{f.alias, f.env} {
			if name == "" {
				continue
			}
			if s, ok := lookupEnv(name); ok && s != "" {
				errs = append(errs, f.set(s, "env "+name))
			}
		}
	}

	for _, f := range order {
		if s, ok := flagArgs[f.key]; ok {
			errs = append(errs, f.set(s, "flag --"+f.key))
		}
	}

	errs = append(errs, cfg.Validate())
	return errors.Join(errs...)
}

// LoadDefaults is Load on a copy of def, a service's defaults, and returns
// the copy filled.
func LoadDefaults[O any, P interface {
	*O
	Validator
}](def O, fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (O, error) {
	err := Load(P(&def), fs, args, lookupEnv)
	return def, err
}

// field is one configurable leaf of the struct.
type field struct {
	key   string // dotted yaml path, also the flag name
	env   string // ALPCRUNCH_ variable
	alias string // variable from the env tag, if any
	usage string
	v     reflect.Value
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// collect walks struct v and records its leaves under prefix. groups are
// nested sections; they are found again by prefix when reading YAML.
func collect(v reflect.Value, prefix string, fields map[string]*field, order *[]*field) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag, ok := sf.Tag.Lookup("yaml")
		if !ok {
			return fmt.Errorf("config: field %s.%s has no yaml tag", t.Name(), sf.Name)
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		fv := v.Field(i)
		if slices.Contains(strings.Split(opts, ","), "inline") {
			if sf.Type.Kind() != reflect.Struct {
				return fmt.Errorf("config: inline field %s.%s is not a struct", t.Name(), sf.Name)
			}
			if err := collect(fv, prefix, fields, order); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			return fmt.Errorf("config: field %s.%s has an empty yaml name", t.Name(), sf.Name)
		}
		key := prefix + name
		if key == "config" {
			return fmt.Errorf("config: key %q is reserved for the --config flag", key)
		}
		if _, dup := fields[key]; dup {
			return fmt.Errorf("config: key %q is defined twice", key)
		}
		if sf.Type.Kind() == reflect.Struct && !supported(sf.Type) {
			if err := collect(fv, key+".", fields, order); err != nil {
				return err
			}
			continue
		}
		if !supported(sf.Type) {
			return fmt.Errorf("config: key %q: unsupported type %s", key, sf.Type)
		}
		f := &field{
			key:   key,
			env:   EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_")),
			alias: sf.Tag.Get("env"),
			usage: sf.Tag.Get("usage"),
			v:     fv,
		}
		fields[key] = f
		*order = append(*order, f)
	}
	return nil
}

func supported(t reflect.Type) bool {
	if t == durationType || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// set parses s into the field; the error names the key and the source.
func (f *field) set(s, source string) error {
	if err := parseInto(f.v, s); err != nil {
		return fmt.Errorf("config: %s: %v (%s)", f.key, err, source)
	}
	return nil
}

func parseInto(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. 1s, 250ms, 1h30m)", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 0, v.Type().Bits())
		if err != nil {
			return numError(s, v.Type(), err)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 0, v.Type().Bits())
		if err != nil {
			return numError(s, v.Type(), err)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			return numError(s, v.Type(), err)
		}
		v.SetFloat(x)
	case reflect.Slice:
		v.Set(reflect.ValueOf(splitList(s)).Convert(v.Type()))
	}
	return nil
}

func numError(s string, t reflect.Type, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range for %s", s, t)
	}
	return fmt.Errorf("invalid number %q for %s", s, t)
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// format renders a field's current value the way it would be written.
func format(v reflect.Value) string {
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String {
		return strings.Join(v.Convert(reflect.TypeFor[[]string]()).Interface().([]string), ",")
	}
	return fmt.Sprint(v.Interface())
}

// flagValue records a flag's raw text so that it can be applied after the
// YAML file and the environment, which are read once --config is known.
type flagValue struct {
	f   *field
	raw map[string]string
}

func (fv *flagValue) String() string {
	if fv == nil || fv.f == nil { // flag.PrintDefaults probes a zero value
		return ""
	}
	return format(fv.f.v)
}

func (fv *flagValue) Set(s string) error {
	fv.raw[fv.f.key] = s
	return nil
}

func (fv *flagValue) IsBoolFlag() bool { return fv.f != nil && fv.f.v.Kind() == reflect.Bool }

func registerFlags(fs *flag.FlagSet, order []*field) (path *string, raw map[string]string, err error) {
	for _, name := range append([]string{"config"}, keys(order)...) {
		if fs.Lookup(name) != nil {
			return nil, nil, fmt.Errorf("config: flag --%s is already defined", name)
		}
	}
	path = fs.String("config", "", "YAML configuration `file` (env "+EnvPrefix+"CONFIG)")
	raw = map[string]string{}
	for _, f := range order {
		usage := f.usage
		if usage == "" {
			usage = "config key " + f.key
		}
		// flag.PrintDefaults shows the first back-quoted word as the
		// argument's placeholder; bool flags take none.
		usage += " ("
		if t := f.v.Type(); t.Kind() != reflect.Bool {
			usage += "`" + typeName(t) + "`, "
		}
		usage += "env " + f.env
		if f.alias != "" {
			usage += " or " + f.alias
		}
		fs.Var(&flagValue{f: f, raw: raw}, f.key, usage+")")
	}
	return path, raw, nil
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Slice:
		return "list"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.String: // a name from a list, as queue.Kind
		return "string"
	case t.PkgPath() == "":
		return t.Name()
	}
	return strings.ToLower(t.Name())
}

func keys(order []*field) []string {
	out := make([]string, len(order))
	for i, f := range order {
		out[i] = f.key
	}
	return out
}

// loadFile applies the YAML file at path; it reports unknown keys, values
// of the wrong shape and values that do not parse, each with its line.
func loadFile(path string, fields map[string]*field) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("config: %w", err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []error{fmt.Errorf("config: %s: %w", path, err)}
	}
	if len(doc.Content) == 0 { // empty file
		return nil
	}
	return applyMapping(path, doc.Content[0], "", fields)
}

func applyMapping(path string, n *yaml.Node, prefix string, fields map[string]*field) []error {
	n = resolve(n)
	where := func(n *yaml.Node) string { return fmt.Sprintf("file %s line %d", path, n.Line) }
	if n.Kind != yaml.MappingNode {
		what := "the file"
		if prefix != "" {
			what = strings.TrimSuffix(prefix, ".")
		}
		return []error{fmt.Errorf("config: %s: want a mapping of keys to values (%s)", what, where(n))}
	}
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], resolve(n.Content[i+1])
		key := prefix + kn.Value
		if seen[key] {
			errs = append(errs, fmt.Errorf("config: %s: given twice (%s)", key, where(kn)))
			continue
		}
		seen[key] = true
		if f, ok := fields[key]; ok {
			if err := applyValue(f, vn, where(vn)); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if isSection(key, fields) {
			errs = append(errs, applyMapping(path, vn, key+".", fields)...)
			continue
		}
		errs = append(errs, fmt.Errorf("config: %s: unknown key (%s)", key, where(kn)))
	}
	return errs
}

func applyValue(f *field, n *yaml.Node, source string) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		f.v.SetZero()
		return nil
	case n.Kind == yaml.ScalarNode:
		return f.set(n.Value, source)
	case n.Kind == yaml.SequenceNode && f.v.Kind() == reflect.Slice:
		items := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c = resolve(c); c.Kind != yaml.ScalarNode {
				return fmt.Errorf("config: %s: want a list of strings (%s)", f.key, source)
			}
			items = append(items, c.Value)
		}
		f.v.Set(reflect.ValueOf(items).Convert(f.v.Type()))
		return nil
	}
	return fmt.Errorf("config: %s: want a single value (%s)", f.key, source)
}

func isSection(key string, fields map[string]*field) bool {
	for k := range fields {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}
