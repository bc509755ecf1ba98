package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// EncryptionKeyEnv is the only place, besides keys.encryption_key_file, the
// key encryption key is read from.
const EncryptionKeyEnv = "OAUTH2D_KEY_ENCRYPTION_KEY"

// ConfigEnv names the configuration file when --config is not given.
const ConfigEnv = "OAUTH2D_CONFIG"

// Flags records the command-line layer until Load applies it on top of the
// file and the environment. Create it with BindFlags before fs.Parse.
type Flags struct {
	path   string
	values []flagValue // in command-line order
}

type flagValue struct{ setting, value string }

// BindFlags registers --config and one flag per setting whose name starts
// with one of prefixes (all settings when none is given) on fs. A setting
// "tokens.access_ttl" becomes --tokens-access-ttl.
func BindFlags(fs *flag.FlagSet, prefixes ...string) *Flags {
	f := &Flags{}
	fs.StringVar(&f.path, "config", "", "configuration file (default "+DefaultPath+", or $"+ConfigEnv+")")
	defaults := Default()
	for _, s := range defaults.settings() {
		if !hasAnyPrefix(s.name, prefixes) {
			continue
		}
		// The built-in default is only the last resort: the config file
		// (configs/oauth2d.yaml sets insecure_dev: true, for one) and the
		// variable come first, so the help must not call it "the default".
		fs.Var(&recorder{setting: s.name, isBool: s.isBool(), into: &f.values},
			FlagName(s.name), fmt.Sprintf("%s\n(unless given: $%s, else the config file, else built-in %q)", s.usage, EnvName(s.name), s.value.String()))
	}
	return f
}

func hasAnyPrefix(name string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// recorder is the flag.Value that only remembers what was given.
type recorder struct {
	setting string
	isBool  bool
	into    *[]flagValue
}

func (r *recorder) String() string   { return "" }
func (r *recorder) IsBoolFlag() bool { return r.isBool }
func (r *recorder) Set(v string) error {
	*r.into = append(*r.into, flagValue{r.setting, v})
	return nil
}

// EnvName is the environment variable of a setting: "redis.url" →
// "OAUTH2D_REDIS_URL".
func EnvName(setting string) string {
	return "OAUTH2D_" + strings.ToUpper(strings.ReplaceAll(setting, ".", "_"))
}

// FlagName is the flag of a setting: "redis.url" → "redis-url".
func FlagName(setting string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(setting)
}

// Load builds the configuration: Default, then the YAML file, then every
// OAUTH2D_* variable getenv returns non-empty, then the flags in f (nil for
// none). It does not call Validate. Every error names its setting or file.
func Load(f *Flags, getenv func(string) string) (*Config, error) {
	if f == nil {
		f = &Flags{}
	}
	c := Default()
	path, explicit := f.path, true
	if path == "" {
		path = getenv(ConfigEnv)
	}
	if path == "" {
		path, explicit = DefaultPath, false
	}
	if err := c.loadFile(path, explicit); err != nil {
		return nil, err
	}

	var errs []error
	byName := map[string]setting{}
	for _, s := range c.settings() {
		byName[s.name] = s
		if v := getenv(EnvName(s.name)); v != "" {
			if err := s.value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("config: %s: %v", EnvName(s.name), err))
			}
		}
	}
	for _, fv := range f.values {
		if err := byName[fv.setting].value.Set(fv.value); err != nil {
			errs = append(errs, fmt.Errorf("config: --%s: %v", FlagName(fv.setting), err))
		}
	}
	for old, now := range renamed {
		if getenv(EnvName(old)) != "" {
			errs = append(errs, fmt.Errorf("config: %s: renamed to %s (setting %s)", EnvName(old), EnvName(now), now))
		}
	}
	if err := c.loadEncryptionKey(getenv); err != nil {
		errs = append(errs, err)
	}
	if err := c.loadDPoPNonceSecret(getenv); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.fillDerived()
	return &c, nil
}

func (c *Config) loadFile(path string, explicit bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config: config file: %w", err)
	}
	if err := checkRenamed(data, path); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt setting must not be silently ignored
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

func (c *Config) loadEncryptionKey(getenv func(string) string) error {
	if v := getenv(EncryptionKeyEnv); v != "" {
		c.Keys.EncryptionKey = v
		return nil
	}
	if c.Keys.EncryptionKeyFile == "" {
		return nil
	}
	data, err := os.ReadFile(c.Keys.EncryptionKeyFile)
	if err != nil {
		return fmt.Errorf("config: keys.encryption_key_file: %w", err)
	}
	c.Keys.EncryptionKey = strings.TrimSpace(string(data))
	return nil
}

// renamed maps a setting's old name to its new one. A file or variable that
// still uses an old name is an error naming the new one: ignoring it would
// silently change the behaviour, and the unknown-key error alone would not
// say what to write instead.
var renamed = map[string]string{
	"dev": "insecure_dev",
}

// checkRenamed reports every top-level key of the YAML document data that
// has been renamed, with its line.
func checkRenamed(data []byte, path string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil // the decoder reports what is wrong with the file
	}
	var errs []error
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if now, ok := renamed[top[i].Value]; ok {
			errs = append(errs, fmt.Errorf("config: %s: line %d: %s: renamed to %s (it is insecure: never set it in production)",
				path, top[i].Line, top[i].Value, now))
		}
	}
	return errors.Join(errs...)
}
