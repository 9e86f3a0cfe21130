# OpenResty content scripts (content_by_lua_file's chunks) served as they
# are, beside luafcgid's handler scripts and WSAPI apps, which are served
# as before: the first run of a chunk answers its first request, later
# requests run it again, all in _G (as Debian's ngx_lua runs them).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(slurp);

my $t = LFTest->new(conf => { workers => 2, states => 4, clones => 1 }, scripts => {
    'hello.lua' => qq{ngx.say("hello ", ngx.var.arg_n)\n},
    # every run's globals stay, in _G
    'globals.lua' => <<'LUA',
local kept = type(mymod)
if not package.loaded.mymod then
  package.loaded.mymod = { name = "mymod" }
  mymod = package.loaded.mymod
end
runs = (runs or 0) + 1
ngx.say("runs ", runs, " seen ", tostring(seen), " module ", kept, " print ", type(print),
        " mark ", tostring(string.lf_mark))
seen = true
string.lf_mark = true
print = nil
LUA
    'handler.lua' => <<'LUA',
hits = 0
function main(env, req)
  hits = hits + 1
  ngx.header["X-Hits"] = hits
  ngx.say("handler ", hits, " ", ngx.var.request_method, " ", ngx.ctx.x or "fresh")
  ngx.ctx.x = "set"
end
LUA
    'nohandler.lua' => "x = 1\n",
    'exits.lua' => qq{ngx.say("before")\nngx.exit(ngx.OK)\nngx.say("after")\n},
    'top_error.lua' => qq{ngx.say("partial")\nerror("broken chunk")\n},
    'preload_me.lua' => qq{ngx.say("preloaded")\n},
    'same.lua' => qq{ngx.say(ngx.shared == require("luafcgid").shared)\n},
    # a global `run` does not make a WSAPI application of it
    'run.lua' => qq{function run()\n  ngx.say("hello from run")\nend\nrun()\n},
});
$t->write_conf(preload => [ $t->www . '/preload_me.lua' ]);
$t->start;

for my $n (1 .. 3) {
    my $r = $t->get('hello.lua', QUERY_STRING => "n=$n");
    is($r->{body}, "hello $n\n", "a content script answers request $n, its first run the first");
}
is($t->get('globals.lua')->{body}, "runs 1 seen nil module nil print function mark nil\n",
   'the first run of a content script runs in _G');
is($t->get('globals.lua')->{body}, "runs 2 seen true module table print nil mark true\n",
   'a later run reads what the first run set in _G');
is($t->get('globals.lua')->{body}, "runs 3 seen true module table print nil mark true\n",
   'and what a later run sets, the next one reads: one _G');

my $r = $t->get('handler.lua');
is($r->{body}, "handler 1 GET fresh\n", 'a handler script uses ngx inside main');
is($r->{headers}{'x-hits'}, 1, 'and its headers');
is($t->get('handler.lua')->{body}, "handler 2 GET fresh\n", 'its globals live on, ngx.ctx is per request');

$r = $t->get('nohandler.lua');
is($r->{status}, 500, 'a script with no handler that never used ngx is still an error');
like($r->{body}, qr/no handler function &#39;main&#39;/, 'which says so');

is($t->get('exits.lua')->{body}, "before\n", 'ngx.exit ends the first run as the answer');
is($t->get('exits.lua')->{body}, "before\n", 'and later runs');

$r = $t->get('top_error.lua');
is($r->{status}, 500, 'a chunk that fails on its first run: 500');
like($r->{body}, qr/broken chunk/, 'with the error');
is($t->get('top_error.lua')->{status}, 500, 'and again on the next request');
like($t->log, qr/broken chunk(?s:.*)broken chunk/, 'each logged');

for my $i (1 .. 3) {
    $r = $t->get('run.lua');
    is($r->{status}, 200, "a content script that defines and calls a global run, request $i: 200");
    is($r->{body}, "hello from run\n", 'its answer, once');
}

is($t->get('same.lua')->{body}, "true\n", 'ngx.shared is the luafcgid module\'s shared');

ok($t->wait_log(qr/preload \S+preload_me\.lua: .*no request found/),
   'a content script cannot be preloaded: its first run needs a request, and the log says so');
is($t->get('preload_me.lua')->{body}, "preloaded\n", 'it is served from its first request on');

$t->stop;
done_testing;
