# ngx.re under the request's limits where PCRE2's own do not reach: the
# scan PCRE2 starts again from each position of a long subject (no match
# limit counts it) ends at the deadline, whatever the options; JIT code,
# which PCRE2 keeps outside the state's allocator, counts toward memory.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest;

my $t = LFTest->new(conf => { workers => 2, timeout => 2, terminate_timeout => 30,
                              memory => 6 * 1024 * 1024 });
# the scan: from each of 300,000 start positions, a* runs to the end (or
# from each of 15,000, a*a* tries every split of the rest)
$t->script('scan.lua', <<'LUA');
local subject = string.rep("a", ngx.var.arg_p == "deep" and 15000 or 300000)
-- deep: from each start position, 15,000 steps (far under the match
-- limit, which PCRE2 counts afresh at each) that each scan the rest: a
-- tenth of a second or more a position
local patterns = { plain = "a*[^a]", utf = "(*UTF)(*NO_START_OPT)a*[^a]", alt = "a*[^a]|b",
                   look = "(?=a*[^a])", deep = "a*a*[^a]" }
ngx.say(ngx.re.find(subject, patterns[ngx.var.arg_p], ngx.var.arg_o))
LUA
# the same options on a subject a match ends early in, and patterns whose
# leading options must stay first
$t->script('fine.lua', <<'LUA');
local s = string.rep("a", 300000) .. "b"
ngx.say(ngx.re.find(s, "a*[^a]", ngx.var.arg_o))
ngx.say(ngx.re.find("abc", "(*UTF)(*LIMIT_MATCH=1000)b", ngx.var.arg_o))
ngx.say(ngx.re.find("x\r\ny", "(*CRLF)^y", "m" .. ngx.var.arg_o))
ngx.say(select(2, ngx.re.find("x", "(*UTF)(", ngx.var.arg_o)))
ngx.say(select(2, ngx.re.find("x", "ab)", ngx.var.arg_o)))
LUA
# 200 patterns of 100 branches each, kept ("o"): about 1 MB of compiled
# code, and 6 MB more of JIT code with "j"
$t->script('cache.lua', <<'LUA');
local branches = {}
for i = 1, 100 do branches[i] = "w" .. i .. "x[a-z]+\\d{2,5}" end
local body = table.concat(branches, "|")
for i = 1, 200 do
  assert(ngx.re.find("w1xab12", "(?:" .. body .. ")" .. string.rep("z?", i % 7) .. "(?#" .. i .. ")",
                     ngx.var.arg_o))
end
ngx.say("cached")
LUA
$t->script('hello.lua', qq{ngx.say("hello")\n});
$t->start;

for my $case (['plain', ''], ['plain', 'j'], ['plain', 'd'], ['utf', ''], ['utf', 'j'], ['alt', 'jo'],
              ['look', ''], ['deep', ''], ['deep', 'j']) {
    my ($p, $o) = @$case;
    my $t0 = time;
    my $r = $t->get('scan.lua', QUERY_STRING => "p=$p&o=$o");
    my $took = time - $t0;
    is($r->{status}, 500, "a scan from every start position of a long subject ($p, \"$o\"): 500");
    like($r->{body}, qr/timeout/, 'the timeout');
    cmp_ok($took, '<', 4, sprintf('within it (%.1f s; timeout 2 s)', $took));
}
unlike($t->log, qr/written off/, 'no worker was written off');

for my $o ('', 'j', 'd', 'jo') {
    is($t->get('fine.lua', QUERY_STRING => "o=$o")->{body},
       "1300001\n22\n44\nnilpcre_compile() failed: missing closing parenthesis in \"(*UTF)(\"\n"
       . "nilpcre_compile() failed: unmatched closing parenthesis in \"ab)\" at \")\"\n",
       "options \"$o\": matches as before, leading (*VERB)s kept, compile errors at their place");
}

is($t->get('cache.lua', QUERY_STRING => 'o=o')->{body}, "cached\n",
   '200 big patterns kept, interpreted, under memory = 6 MB');
my $r = $t->get('cache.lua', QUERY_STRING => 'o=jo');
is($r->{status}, 500, 'kept with JIT code (about 6 MB more): over memory');
like($r->{body}, qr/memory limit/, 'a memory limit');
is($t->get('hello.lua')->{body}, "hello\n", 'the daemon serves on');
ok(LFTest::alive($t->pid), 'never restarted');
$t->stop;
done_testing;
