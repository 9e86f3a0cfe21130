# WSAPI applications: a script with no handler that is an app is served
# as one, in each form wsapi.fcgi takes (a returned app table or run
# function, module(..., package.seeall) with run) and a global run.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use POSIX ();
use LFTest qw(http_get http_post wait_for);

my $t = LFTest->new(conf => { workers => 2, extensions => ['.lua', '.ws'] });
my $have_wsapi = grep { -f "$_/wsapi/request.lua" } qw(/usr/share/lua/5.1 /usr/local/share/lua/5.1);
$t->script('global.lua', <<~'LUA');
hits = 0
function run(wsapi_env)
  hits = hits + 1
  local body = coroutine.wrap(function()
    coroutine.yield("hits=" .. hits)
    coroutine.yield(" path=" .. wsapi_env.PATH_INFO)
    coroutine.yield(" missing=[" .. wsapi_env.NOT_SET_ANYWHERE .. "]")
    coroutine.yield(" app=" .. wsapi_env.APP_PATH)
  end)
  return 200, { ["Content-Type"] = "text/plain", ["X-Multi"] = { "a", "b" } }, body
end
LUA
$t->script('returns_app.lua', <<~'LUA');
local app = {}
function app.run(wsapi_env)
  return "201 Created", { ["Content-Type"] = "text/plain" }, function() return nil end
end
return app
LUA
$t->script('returns_run.lua', <<~'LUA');
return function(wsapi_env)
  local sent = false
  return 200, { ["Content-Type"] = "text/plain" }, function()
    if sent then return nil end
    sent = true
    return "a run function, method " .. wsapi_env.REQUEST_METHOD
  end
end
LUA
$t->script('modform.lua', <<~'LUA');
module(..., package.seeall)
function run(wsapi_env)
  return 404, { ["Content-Type"] = "text/plain" }, coroutine.create(function()
    coroutine.yield("module " .. _NAME)
  end)
end
LUA
$t->script('wsreq.lua', <<~'LUA');
local request = require "wsapi.request"
local response = require "wsapi.response"
function run(wsapi_env)
  local req = request.new(wsapi_env)
  local res = response.new()
  res:write("hello " .. tostring(req.POST.name) .. " q=" .. tostring(req.GET.q))
  return res:finish()
end
LUA
$t->script('lines.lua', <<~'LUA');
function run(wsapi_env)
  local out = {}
  wsapi_env.error:write("reading lines")
  for i = 1, 10 do
    local l = wsapi_env.input:read("*l")
    if not l then break end
    out[#out + 1] = "[" .. l .. "]"
  end
  return 200, { ["Content-Type"] = "text/plain" }, { table.concat(out) }
end
LUA
$t->script('broken.lua', <<~'LUA');
function run(wsapi_env) error("the app broke") end
LUA
$t->script('both.lua', <<~'LUA');
function run() return 500, {}, "" end
function main(env, req) req:puts("the handler wins") end
LUA
$t->script('neither.lua', "x = 1\n");
$t->start;

my $r = $t->get('global.lua', PATH_INFO => '');
is($r->{status}, 200, 'a global run: 200');
is($r->{headers}{'content-type'}, 'text/plain', 'its Content-Type');
is_deeply([map { $_->[1] } grep { lc $_->[0] eq 'x-multi' } @{ $r->{header_lines} }], ['a', 'b'],
          'an array header value is a repeated header');
is($r->{body}, 'hits=1 path=/ missing=[] app=' . $t->www, 'the coroutine body whole; "/" for an empty PATH_INFO, "" for a missing variable, APP_PATH');
$r = $t->get('global.lua', PATH_INFO => '/x/y');
like($r->{body}, qr/^hits=2 path=\/x\/y /, 'its globals live across requests; PATH_INFO as given');

$r = $t->get('returns_app.lua');
is($r->{status}, 201, 'a script that returns an app table');
is($r->{body}, '', 'with an empty body');
$r = $t->get('returns_run.lua');
is($r->{body}, 'a run function, method GET', 'a script that returns its run function');
$r = $t->get('modform.lua');
is($r->{status}, 404, 'module(..., package.seeall) with run: its status');
is($r->{body}, 'module modform', 'its module name is the file name, and a coroutine body');
SKIP: {
    skip 'lua-wsapi is not installed', 1 unless $have_wsapi;
    $r = $t->get('wsreq.lua', STDIN => 'name=lua', CONTENT_TYPE => 'application/x-www-form-urlencoded', QUERY_STRING => 'q=1');
    is($r->{body}, 'hello lua q=1', "Debian's wsapi.request and wsapi.response work inside an app");
}
$r = $t->get('lines.lua', STDIN => "one\ntwo\r\nthree");
is($r->{body}, "[one][two\r][three]", 'input:read("*l") reads the body line by line');
ok($t->wait_log(qr/lines\.lua.*reading lines/), 'error:write goes to the log, tagged with the script');
$r = $t->get('broken.lua');
is($r->{status}, 500, 'an app that errors: 500');
like($r->{body}, qr/the app broke/, 'our error page, with the error (showerrors)');
ok($t->wait_log(qr/broken\.lua.*the app broke/), 'and a log line');
is($t->get('both.lua')->{body}, 'the handler wins', 'a handler wins over run');
$r = $t->get('neither.lua');
is($r->{status}, 500, 'a script that is neither: 500');
like($r->{body}, qr/no handler function &#39;main&#39;.*no WSAPI application/, 'it says so');

# an edited app reloads
$t->script('returns_app.lua', "return { run = function() return 202, {}, function() end end }\n");
utime time + 5, time + 5, $t->www . '/returns_app.lua';
ok(wait_for(sub { $t->get('returns_app.lua')->{status} == 202 }, 10), 'an edited app is reloaded');

# streamed: buffering = false
{
    my $s = LFTest->new(conf => { workers => 1, buffering => 0 });
    $s->script('stream.lua', <<~'LUA');
    function run()
      return 200, { ["Content-Type"] = "text/plain" }, coroutine.wrap(function()
        for i = 1, 200 do coroutine.yield(string.rep(string.char(65 + i % 26), 1000)) end
      end)
    end
    LUA
    $s->start;
    my $r = $s->get('stream.lua');
    is(length $r->{body}, 200000, 'a streamed coroutine body arrives whole');
    is(substr($r->{body}, 0, 1000), 'B' x 1000, 'in order');
    $s->stop;
}

SKIP: {
    skip 'nginx is not installed', 2 unless -x LFTest::nginx_binary() || `which nginx 2>/dev/null`;
    $t->start_nginx;
    my $r = http_get($t->nginx_url('/global.lua/a/b'));
    like($r->{content}, qr/ path=\/a\/b missing=\[\]/, 'through nginx: PATH_INFO split');
    $r = http_post($t->nginx_url('/wsreq.lua?q=2'), 'name=web');
    is($r->{content}, $have_wsapi ? 'hello web q=2' : $r->{content}, 'through nginx: a form read by wsapi.request');
    $t->stop_nginx;
}

# Debian's Orbit examples, unchanged, against wsapi.fcgi side by side
SKIP: {
    my $orbit = '/usr/share/doc/lua-orbit';
    skip 'lua-orbit, spawn-fcgi or wsapi.fcgi is not installed', 18
        unless -f "$orbit/hello/hello.lua" && -x '/usr/bin/wsapi.fcgi' && `which spawn-fcgi 2>/dev/null`;
    system('cp', "$orbit/hello/hello.lua", "$orbit/hello/hello.ws", "$orbit/songs/songs.lua", $t->www) == 0 or die "cp: $?";
    my $sock = $t->dir . '/wsapi.sock';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>>', $t->dir . '/wsapi.log');
        open(STDERR, '>&', \*STDOUT);
        exec('spawn-fcgi', '-n', '-s', $sock, '--', '/usr/bin/wsapi.fcgi') or POSIX::_exit(127);
    }
    LFTest::track($pid, 'wsapi.fcgi');
    my $peer = bless { conf => { listen => $sock } }, 'LFTest';     # its FastCGI client only
    ok(wait_for(sub { -S $sock && $peer->can_connect }, 10), 'wsapi.fcgi is up');
    for my $case (['hello.lua', '/'], ['hello.lua', '/say/Lua'], ['hello.lua', '/nothing'], ['songs.lua', '/'],
                  ['songs.lua', '/nothing'], ['hello.ws', '/say/Launcher']) {
        my ($script, $path) = @$case;
        my %params = (SCRIPT_FILENAME => $t->www . "/$script", SCRIPT_NAME => "/$script", PATH_INFO => $path,
                      REQUEST_METHOD => 'GET', QUERY_STRING => '', SERVER_NAME => 'localhost', SERVER_PORT => 80,
                      SERVER_PROTOCOL => 'HTTP/1.1', GATEWAY_INTERFACE => 'CGI/1.1', DOCUMENT_ROOT => $t->www,
                      REMOTE_ADDR => '127.0.0.1');
        my ($ours, $theirs) = ($t->fcgi(\%params), $peer->fcgi(\%params));
        is("$ours->{status} $ours->{headers}{'content-type'}", "$theirs->{status} $theirs->{headers}{'content-type'}",
           "$script$path: the status and Content-Type of wsapi.fcgi");
        ok(length $ours->{body} && $ours->{body} eq $theirs->{body}, "$script$path: its body");
    }
    # Orbit pages: one launcher script serves every .op file, given as PATH_TRANSLATED
    $t->script('op.lua', "return require 'orbit.pages'\n");
    $t->script('hello.op', "<html><body><p>Hello \$(name or 'nobody'), \$lua{[[return 1 + 1]]}</p></body></html>\n");
    my %op = (SCRIPT_FILENAME => $t->www . '/op.lua', PATH_TRANSLATED => $t->www . '/hello.op',
              SCRIPT_NAME => '/hello.op', PATH_INFO => '', REQUEST_METHOD => 'GET', QUERY_STRING => '',
              SERVER_NAME => 'localhost', SERVER_PORT => 80, DOCUMENT_ROOT => $t->www, REMOTE_ADDR => '127.0.0.1');
    is($t->fcgi(\%op)->{body}, "<html><body><p>Hello nobody, 2</p></body></html>\n",
       'an Orbit page (.op) through orbit.pages');
    LFTest::stop_pid($pid, 'TERM', 5);
    system('cp', LFTest::top() . '/examples/orbit_app.lua', $t->www) == 0 or die "cp: $?";
    $r = $t->get('orbit_app.lua', PATH_INFO => '/');
    $r = $t->get('orbit_app.lua', PATH_INFO => '/');
    like($r->{body}, qr{<h1>Hello from Orbit</h1><p>visit #2</p>}, 'examples/orbit_app.lua: its globals live on');
    like($t->get('orbit_app.lua', PATH_INFO => '/greet/Ann')->{body}, qr{<h1>Hello, Ann</h1>}, 'and its routes work');
    SKIP: {
        skip 'nginx is not installed', 2 unless -x LFTest::nginx_binary() || `which nginx 2>/dev/null`;
        my $www = $t->www;
        $t->start_nginx(locations => <<~"NGINX");
        location ~ \\.op\$ {
            fastcgi_param SCRIPT_FILENAME $www/op.lua;
            fastcgi_param PATH_TRANSLATED \$document_root\$fastcgi_script_name;
            fastcgi_param SCRIPT_NAME \$fastcgi_script_name;
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param QUERY_STRING \$query_string;
            fastcgi_pass luafcgid;
        }
        NGINX
        like(http_get($t->nginx_url('/hello.lua/say/Lua'))->{content}, qr{<p class="hello">Hello Lua!</p>},
             "Orbit's hello through nginx, PATH_INFO split");
        is(http_get($t->nginx_url('/hello.op'))->{content}, "<html><body><p>Hello nobody, 2</p></body></html>\n",
           'an Orbit page through nginx: every .op to one launcher');
        $t->stop_nginx;
    }
}

# CGILua pages, unchanged, through wsapi.sapi: one launcher serves every
# .lp page and every .lua script under /cgi/, given as PATH_TRANSLATED.
SKIP: {
    skip 'lua-cgi or lua-wsapi is not installed', 8
        unless -f '/usr/share/lua/5.1/cgilua.lua' && $have_wsapi;
    my $www = $t->www;
    mkdir "$www/cgi" or die "mkdir: $!";
    $t->script('cgilua.ws', "return require 'wsapi.sapi'\n");
    $t->script('hello.lp', <<~'LP');
    <html><p>Hello <%= cgilua.QUERY.name or 'nobody' %>, <%= 1 + 1 %></p>
    <% for i = 1, 3 do %><i><%= i %></i><% end %></html>
    LP
    $t->script('cgi/page.lua', <<~'LUA');
    cgilua.htmlheader()
    cgilua.put("page n=", cgilua.QUERY.n or "-", " a=", tostring(cgilua.POST.a), " in ", cgilua.script_file)
    LUA
    # wsapi.fcgi cannot serve this form: it takes SCRIPT_FILENAME (the
    # launcher) for PATH_TRANSLATED, so CGILua would run the launcher.
    for my $case (['hello.lp', 'name=Ann', "<html><p>Hello Ann, 2</p>\n<i>1</i><i>2</i><i>3</i></html>\n"],
                  ['cgi/page.lua', 'n=4', 'page n=4 a=nil in page.lua']) {
        my ($page, $query, $want) = @$case;
        my $r = $t->fcgi({ SCRIPT_FILENAME => "$www/cgilua.ws", PATH_TRANSLATED => "$www/$page",
                           SCRIPT_NAME => "/$page", PATH_INFO => '', REQUEST_METHOD => 'GET', QUERY_STRING => $query,
                           SERVER_NAME => 'localhost', SERVER_PORT => 80, DOCUMENT_ROOT => $www,
                           REMOTE_ADDR => '127.0.0.1' });
        is("$r->{status} $r->{headers}{'content-type'}", '200 text/html', "CGILua $page through wsapi.sapi: 200 text/html");
        is($r->{body}, $want, "CGILua $page: its body");
    }
    SKIP: {
        skip 'nginx is not installed', 4 unless -x LFTest::nginx_binary() || `which nginx 2>/dev/null`;
        # as examples/nginx.conf's CGILua location
        $t->start_nginx(locations => <<~"NGINX");
        location ~ (\\.lp|^/cgi/.+\\.lua)\$ {
            fastcgi_param SCRIPT_FILENAME $www/cgilua.ws;
            fastcgi_param PATH_TRANSLATED \$document_root\$fastcgi_script_name;
            fastcgi_param SCRIPT_NAME \$fastcgi_script_name;
            fastcgi_param DOCUMENT_ROOT \$document_root;
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param QUERY_STRING \$query_string;
            fastcgi_param CONTENT_TYPE \$content_type;
            fastcgi_param CONTENT_LENGTH \$content_length;
            fastcgi_param SERVER_NAME \$server_name;
            fastcgi_param SERVER_PORT \$server_port;
            fastcgi_param REMOTE_ADDR \$remote_addr;
            fastcgi_pass luafcgid;
        }
        NGINX
        my $r = http_get($t->nginx_url('/hello.lp?name=Web'));
        is($r->{content}, "<html><p>Hello Web, 2</p>\n<i>1</i><i>2</i><i>3</i></html>\n", 'a CGILua .lp page through nginx');
        like($r->{headers}{'content-type'}, qr{^text/html}, 'as text/html');
        $r = http_post($t->nginx_url('/cgi/page.lua?n=5'), 'a=posted');
        is($r->{content}, "page n=5 a=posted in page.lua", 'a CGILua .lua script through nginx, with a form POST');
        is(http_get($t->nginx_url('/global.lua'))->{status}, 200, 'plain .lua scripts outside /cgi/ are served as before');
        $t->stop_nginx;
    }
}

ok(LFTest::alive($t->pid), 'the daemon still runs');

# error:write writes every argument as text, as wsapi.fcgi's stderr does;
# a module-form app named luafcgid.lua is served like any other.
{
    my $c = LFTest->new(conf => { workers => 1 });
    $c->script('errw.lua', "function run(e) e.error:write('warn', ': disk at ', 91, '%') return 200, {}, 'ok' end\n");
    $c->script('luafcgid.lua', "module(..., package.seeall)\nfunction run(e) return 200, {}, 'named luafcgid' end\n");
    $c->start;
    is($c->get('errw.lua')->{body}, 'ok', 'the app answers');
    ok($c->wait_log(qr/errw\.lua: warn: disk at 91%/, 3), 'error:write writes every argument as text');
    is($c->get('luafcgid.lua')->{body}, 'named luafcgid', 'a module-form app named luafcgid.lua is served');
    is($c->get('luafcgid.lua')->{body}, 'named luafcgid', 'and again');
    $c->stop;
}
# What the app returns that luafcgid cannot send as it is: a clear error
# (a 500 that says which), before a byte of the answer goes out, never a
# header "table: 0x..." nor a body cut short at an element.
{
    my $c = LFTest->new(conf => { workers => 1, showerrors => 1 });
    my %apps = (
        'nested.lua' => ['{ ["X-List"] = { "a", { "n" } } }', '"body"', qr/header X-List: its value 2 is a table/],
        'fnhdr.lua'  => ['{ ["X-Fn"] = print }', '"body"', qr/header X-Fn: its value is a function/],
        'maphdr.lua' => ['{ ["X-Map"] = { k = "v" } }', '"body"', qr/header X-Map: its value is a table that is not a list/],
        'hole.lua'   => ['{}', '{ "one ", "two ", nil, "four" }', qr/the response body: its element 3 is a nil/],
        'bool.lua'   => ['{}', '{ "one ", false, "three" }', qr/the response body: its element 2 is a boolean/],
        'tbl.lua'    => ['{}', '{ "one ", {}, "three" }', qr/the response body: its element 2 is a table/],
    );
    for my $name (sort keys %apps) {
        my ($headers, $body) = @{ $apps{$name} };
        $c->script($name, "function run(e) return 200, $headers, $body end\n");
    }
    $c->script('streamed.lua', "function run(e) return 200, {}, { 'one ', true } end\n");
    $c->write_conf(buffering => 0);
    $c->start;
    for my $name (sort keys %apps) {
        my $r = $c->get($name);
        is($r->{status}, 500, "$name: 500");
        like($r->{body}, $apps{$name}[2], "$name: says why");
        unlike($r->{stdout}, qr/table: 0x|one two|^one /m, "$name: nothing of the answer went out");
    }
    my $r = $c->get('streamed.lua');
    is($r->{status}, 500, 'with buffering off too, a body table is checked before its first piece goes out');
    $c->stop;
}

done_testing();
