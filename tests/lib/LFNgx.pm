# LFNgx: the same Lua run two ways, under OpenResty's ngx_lua (Debian's
# libnginx-mod-http-lua, loaded into a private nginx) and under luafcgid
# behind that same nginx, for the differential tests of the OpenResty API.
#
#   my $x = LFNgx->new(shared => { d => '1m' }, conf => { workers => 2 });
#   $x->start;                  # the daemon, then nginx in front of it
#   my ($ngx, $lf) = $x->run('name', $lua);
#   is($lf, $ngx, 'the same answers');
#
# $lua is the body of a function called as f(shared, sleep) that returns
# a string: `shared` is ngx.shared under nginx and the luafcgid module's
# `shared` under luafcgid (the same object as ngx.shared there), and
# sleep(s) lets time pass (ngx.sleep; a sleep(1) process in luafcgid).
# Both sides get the same helpers first:
#
#   show(...)       the values, typed: "a", 1.5, true, nil (strings %q,
#                   numbers %.14g, nil and booleans by name)
#   try(f, ...)     show() of what f returns, or "error: MSG" with the
#                   position ("file:line: ") taken off, since the file
#                   and line are each side's own
#
# run_raw($name, $ngx_text, $lf_text) writes each side's file as given
# (a content_by_lua_file script; a luafcgid script) and fetches both.
# The nginx is started with $x->start(nginx => { more start_nginx options }).
package LFNgx;

use strict;
use warnings;
use LFTest qw(http_get);

my $MODULES = '/usr/lib/nginx/modules';

# Both sides' helpers, as Lua.
my $PRELUDE = <<'LUA';
local function show(...)
  local n, t, o = select('#', ...), { ... }, {}
  for i = 1, n do
    local v = t[i]
    if type(v) == "string" then o[i] = string.format("%q", v)
    elseif type(v) == "number" then o[i] = string.format("%.14g", v)
    elseif type(v) == "nil" or type(v) == "boolean" then o[i] = tostring(v)
    else o[i] = type(v) end
  end
  return table.concat(o, ", ")
end
local function packed(ok, ...)
  if not ok then
    local e = tostring((...)):gsub("^[^:\n]*:%d+: ", "")
    return "error: " .. e
  end
  return show(...)
end
local function try(f, ...) return packed(pcall(f, ...)) end
LUA

sub available { return -e "$MODULES/ngx_http_lua_module.so" && -x LFTest::nginx_binary() }

# LFNgx->new(shared => { NAME => SIZE }, conf => { more luafcgid keys })
sub new {
    my ($class, %o) = @_;
    my $shared = $o{shared} // {};
    my $t = LFTest->new(conf => { shared => \(_lua_table($shared)), %{ $o{conf} // {} } });
    mkdir $t->www . '/ngx';
    return bless { t => $t, shared => $shared }, $class;
}

sub _lua_table {
    my ($h) = @_;
    return '{ ' . join(', ', map { "[\"$_\"] = \"$h->{$_}\"" } sort keys %$h) . ' }';
}

sub daemon { $_[0]{t} }

# Start the daemon, then nginx with ngx_lua and the same lua_shared_dict
# zones; the port.
sub start {
    my ($self, %o) = @_;
    my $t = $self->{t};
    $t->start;
    my $zones = join "\n    ", map { "lua_shared_dict $_ $self->{shared}{$_};" } sort keys %{ $self->{shared} };
    $self->{port} = $t->start_nginx(
        main => "load_module $MODULES/ndk_http_module.so;\nload_module $MODULES/ngx_http_lua_module.so;",
        http => $zones,
        locations => 'location ^~ /ngx/ { default_type text/plain; content_by_lua_file $document_root$uri; }',
        %{ $o{nginx} // {} },
    );
    return $self->{port};
}

sub stop {
    my ($self) = @_;
    $self->{t}->stop_nginx;
    $self->{t}->stop;
}

sub _fetch {
    my ($self, $path) = @_;
    my $r = http_get($self->{t}->nginx_url($path));
    return $r->{status} == 200 ? $r->{content} : "HTTP $r->{status}: $r->{content}";
}

# The two bodies, ngx_lua's then luafcgid's, for the same function body.
sub run {
    my ($self, $name, $lua) = @_;
    my $www = $self->{t}->www;
    LFTest::spew("$www/ngx/$name.lua", $PRELUDE . "local f = function(shared, sleep)\n$lua\nend\n"
        . "ngx.print(f(ngx.shared, function(s) ngx.sleep(s) end))\n");
    LFTest::spew("$www/$name.lua", $PRELUDE . "local f = function(shared, sleep)\n$lua\nend\n"
        . "local lf = require 'luafcgid'\n"
        . "local function sleep(s) os.execute(string.format('sleep %.3f', s)) end\n"
        . "function main(env, req) req:header('Content-Type', 'text/plain'); req:puts(f(lf.shared, sleep)) end\n");
    return ($self->_fetch("/ngx/$name.lua"), $self->_fetch("/$name.lua"));
}

sub run_raw {
    my ($self, $name, $ngx, $lf) = @_;
    my $www = $self->{t}->www;
    LFTest::spew("$www/ngx/$name.lua", $ngx);
    LFTest::spew("$www/$name.lua", $lf);
    return ($self->_fetch("/ngx/$name.lua"), $self->_fetch("/$name.lua"));
}

1;
