(ns sockets.cli-test
  "The command line. The netcat behaviours run the CLI as child processes (a JVM on this
  test's classpath; ten in all, since each is slow to start); argument handling, help,
  lookup and -z run `sockets.cli/run` in this JVM."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.cli :as cli]
            [sockets.core :as s]
            [sockets.test-util :as u])
  (:import (java.io File)
           (java.util Arrays Random)
           (java.util.concurrent TimeUnit)))

(use-fixtures :once u/fd-fixture)

(defn- java-bin [] (str (System/getProperty "java.home") "/bin/java"))

(defn- start
  "Starts `sockets.cli` with args; stdin from `in-file` (or /dev/null), stdout to `out-file`
  (or a pipe)."
  ^Process [args & {:keys [in-file out-file]}]
  (let [pb (ProcessBuilder. ^java.util.List (into [(java-bin) "-cp" (System/getProperty "java.class.path")
                                                   "clojure.main" "-m" "sockets.cli"] args))]
    (.redirectInput pb ^File (or in-file (File. "/dev/null")))
    (when out-file (.redirectOutput pb ^File out-file))
    (.start pb)))

(defn- close-streams
  "Closes the pipes to and from p (they are fds of this JVM until closed)."
  [^Process p]
  (.close (.getOutputStream p))
  (.close (.getInputStream p))
  (.close (.getErrorStream p)))

(defn- finish
  "Waits (bounded) for p; returns {:exit :out :err} (err: what is left after `wait-listening`)."
  [^Process p]
  (let [out (future (slurp (.getInputStream p)))
        err (future (slurp (.getErrorStream p)))]
    (try
      (if (.waitFor p 120 TimeUnit/SECONDS)
        {:exit (.exitValue p) :out (deref out 10000 "") :err (deref err 10000 "")}
        (do (.destroyForcibly p) (.waitFor p 10 TimeUnit/SECONDS) {:exit :timeout :out "" :err ""}))
      (finally (close-streams p)))))

(defn- wait-listening
  "Reads p's stderr (bounded) until its \"listening on ADDRESS\" line; returns that line."
  [^Process p]
  (let [r (io/reader (.getErrorStream p))]
    (loop [i 0]
      (let [line (.readLine ^java.io.BufferedReader r)]
        (cond (nil? line) nil
              (str/starts-with? line "listening on") line
              (< i 100) (recur (inc i)))))))

(defn- free-port []
  (with-open [l (u/listener)] (s/sockaddr-port (s/socket-name l))))

(defn- run-here
  "sockets.cli/run in this JVM: {:exit :out :err}."
  [& args]
  (let [err (java.io.StringWriter.)
        code (volatile! nil)
        out (with-out-str (binding [*err* err] (vreset! code (cli/run args))))]
    {:exit @code :out out :err (str err)}))

(defn- random-file [^File f n]
  (let [b (byte-array n)]
    (.nextBytes (Random. 1) b)
    (io/copy b f)
    b))

(deftest tcp-both-directions-half-close-and-progress
  (u/with-temp-dir [d]
    (let [up (File. d "up.bin")
          up-bytes (random-file up (* 4 1024 1024))
          down (doto (File. d "down.txt") (spit "from the listener\n"))
          got-up (File. d "got-up.bin")
          port (str (free-port))
          listener (start ["listen" "-v" port] :in-file down :out-file got-up)]
      (is (= (str "listening on 127.0.0.1:" port) (wait-listening listener)))
      ;; the listener's stdin ends at once: it half-closes, and must still read all 4 MiB
      (let [client (finish (start ["connect" "-v" "--progress" "127.0.0.1" port] :in-file up))
            server (finish listener)]
        (is (= 0 (:exit client)) (:err client))
        (is (= 0 (:exit server)) (:err server))
        (testing "socket -> stdout on the client, stdin -> socket on the listener"
          (is (= "from the listener\n" (:out client))))
        (testing "stdin -> socket on the client, byte exact, after the listener's half-close"
          (is (Arrays/equals up-bytes (java.nio.file.Files/readAllBytes (.toPath got-up)))))
        (testing "-v says who connected, from where, and to what"
          (is (str/includes? (:err server) "connection from 127.0.0.1:"))
          (is (str/includes? (:err client) (str "connected to 127.0.0.1:" port))))
        (testing "--progress: bytes and rate on one line rewritten with \\r"
          (is (re-find #"\r[0-9.]+ [KMG]?i?B in, 4\.0 MiB out, [0-9.]+ [KMG]?i?B/s" (:err client))
              (pr-str (:err client))))))))

(deftest unix-keep-accepts-again-both-directions-and-zero
  (u/with-temp-dir [d]
    (let [path (str d "/cli.sock")
          down (doto (File. d "down.txt") (spit "hello from the listener\n"))
          got (File. d "got.txt")
          listener (start ["listen" "-k" "-U" path] :in-file down :out-file got)]
      (try
        (is (= (str "listening on " path) (wait-listening listener)))
        (let [c1 (finish (start ["connect" "-U" path] :in-file (doto (File. d "1.txt") (spit "first\n"))))
              c2 (finish (start ["connect" "--unix" path] :in-file (doto (File. d "2.txt") (spit "second\n"))))]
          (is (= [0 0] [(:exit c1) (:exit c2)]) (str (:err c1) (:err c2)))
          (testing "the listener's stdin went to the first connection; the second sees its EOF"
            (is (= "hello from the listener\n" (:out c1)))
            (is (= "" (:out c2))))
          (testing "-k: both connections arrived"
            (is (= "first\nsecond\n" (slurp got)))))
        (testing "-z: exit 0 when something listens (unix and tcp), 1 when not"
          (is (= 0 (:exit (run-here "connect" "-z" "-U" path))))
          (with-open [l (u/listener)]
            (is (= 0 (:exit (run-here "connect" "-zv" "127.0.0.1" (str (s/sockaddr-port (s/socket-name l))))))))
          (let [{:keys [exit err]} (run-here "connect" "-z" "-v" "127.0.0.1" (str (free-port)))]
            (is (= 1 exit))
            (is (str/includes? err "failed"))))
        (finally
          (.destroy listener)
          (.waitFor listener 30 TimeUnit/SECONDS)
          (close-streams listener))))))

(deftest udp-both-directions
  (u/with-temp-dir [d]
    (let [port (str (free-port))
          listener (start ["listen" "-u" "-v" "-w" "6" port] :in-file (doto (File. d "l.txt") (spit "pong\n")))]
      (is (wait-listening listener))
      (let [client (finish (start ["connect" "-u" "-w" "6" "127.0.0.1" port]
                                  :in-file (doto (File. d "c.txt") (spit "ping\n"))))
            server (finish listener)]
        (is (= 0 (:exit client)) (:err client))
        (is (= 0 (:exit server)) (:err server))
        (is (= "ping\n" (:out server)) "listen prints the datagram")
        (is (= "pong\n" (:out client)) "listen replies to its peer with its stdin")
        (is (str/includes? (:err server) "datagram from 127.0.0.1:"))))))

(deftest relay-tcp-to-unix-both-directions
  (u/with-temp-dir [d]
    (let [path (str d "/backend.sock")
          port (str (free-port))]
      (with-open [backend (s/socket :af/unix :sock/stream)]
        (s/socket-bind backend (s/unix-address path))
        (s/socket-listen backend 4)
        (let [served (future (with-open [c (s/socket-accept backend)]
                               (let [got (loop [acc ""]
                                           (let [b (s/socket-receive c 1024)]
                                             (if (pos? (alength ^bytes b)) (recur (str acc (String. ^bytes b "UTF-8"))) acc)))]
                                 (s/socket-send-all c (str/upper-case got))
                                 got)))
              relay (start ["relay" "-v" (str "tcp:" port) (str "unix:" path)])]
          (is (= (str "listening on 127.0.0.1:" port) (wait-listening relay)))
          (with-open [c (s/socket :af/inet :sock/stream)]
            (s/socket-connect c (s/inet-address "127.0.0.1" (Long/parseLong port)))
            (s/socket-send-all c "through the relay")
            (s/socket-shutdown c :shut/wr)
            (is (= "through the relay" (deref served 60000 :timeout)) "client -> backend, and its EOF passed on")
            (is (= "THROUGH THE RELAY" (loop [acc ""]
                                         (let [b (s/socket-receive c 1024)]
                                           (if (pos? (alength ^bytes b)) (recur (str acc (String. ^bytes b "UTF-8"))) acc))))
                "backend -> client"))
          (let [{:keys [exit err]} (finish relay)]
            (is (= 0 exit) err)
            (is (str/includes? err "relaying 127.0.0.1:"))))))))

(deftest lookup-reverse-options
  (let [{:keys [exit out]} (run-here "lookup" "localhost")]
    (is (= 0 exit))
    (is (str/includes? out "127.0.0.1")))
  (let [{:keys [exit out]} (run-here "reverse" "127.0.0.1:80")]
    (is (= 0 exit))
    (is (= "localhost http" (str/trim out))))
  (testing "reverse looks a name up instead of refusing it"
    (let [{:keys [exit out err]} (run-here "reverse" "-4" "localhost")]
      (is (= 0 exit) err)
      (is (str/starts-with? (str/trim out) "127.0.0.1"))))
  (let [{:keys [exit out]} (run-here "options" "--type" "stream")]
    (is (= 0 exit))
    (is (str/includes? out ":tcp/nodelay false"))))

(deftest bad-arguments-exit-2
  (doseq [args [["frobnicate"] ["connect"] ["connect" "localhost" "99999"] ["listen" "--bogus" "1"]
                ["options" "--family" "appletalk"] ["connect" "-w" "soon" "localhost" "1"]
                ["connect" "-4" "-6" "localhost" "1"] ["connect" "-z" "-u" "localhost" "1"]
                ["relay" "tcp:1"] ["relay" "http://x" "unix:/tmp/x"] ["lookup" "-z" "x"]]]
    (let [{:keys [exit err]} (apply run-here args)]
      (is (= 2 exit) (pr-str args))
      (is (= 1 (count (remove str/blank? (str/split-lines err)))) (str "one line: " (pr-str err))))))

(deftest network-errors-exit-1
  (let [{:keys [exit err]} (run-here "connect" "127.0.0.1" (str (free-port)))]
    (is (= 1 exit))
    (is (str/includes? err "connection refused"))))

(deftest help-lists-every-option
  (let [out (:out (run-here "--help"))]
    (doseq [opt ["listen" "connect" "relay" "lookup" "reverse" "options" "-k" "--keep" "-u" "--udp"
                 "-U" "--unix" "-4" "-6" "-v" "-w" "-z" "--echo" "--progress" "--family" "--type"]]
      (is (str/includes? out opt) opt)))
  (is (str/includes? (:out (run-here "listen" "--help")) "usage: sockets listen")))
