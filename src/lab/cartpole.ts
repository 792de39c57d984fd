/**
 * Cart-pole balancing: the classic continuous-state control task (Barto, Sutton &
 * Anderson 1983), with the dynamics, constants and termination rules of Gymnasium's
 * CartPole-v1, so returns here compare with published CleanRL curves.
 *
 * State s = [x, ẋ, θ, θ̇] (cart position and velocity, pole angle from upright and its
 * angular velocity). Actions: 0 pushes the cart left, 1 right, with a force of 10 N.
 * Reward +1 on every step, the terminating one included. The episode terminates when
 * |x| > 2.4 or |θ| > 12°, and is truncated after 500 steps.
 *
 * Dynamics (Florian 2007, "Correct equations for the dynamics of the cart-pole system",
 * frictionless case), integrated with explicit Euler at τ = 0.02 s:
 *
 *   temp = (F + m_p l θ̇² sin θ) / (m_c + m_p)
 *   θ̈   = (g sin θ − cos θ · temp) / (l (4/3 − m_p cos²θ / (m_c + m_p)))
 *   ẍ   = temp − m_p l θ̈ cos θ / (m_c + m_p)
 *   x ← x + τ ẋ,  ẋ ← ẋ + τ ẍ,  θ ← θ + τ θ̇,  θ̇ ← θ̇ + τ θ̈
 *
 * (l is half the pole's length, as in Gym.) Resets draw each component uniformly from
 * [−0.05, 0.05] with the episode's Rng, so a seed fixes the run.
 */
import type { Rng } from "../engine/rng.ts";
import type { Env, StepResult } from "./env.ts";

/** Gymnasium CartPole-v1's constants. */
export const CARTPOLE = {
  gravity: 9.8,
  massCart: 1.0,
  massPole: 0.1,
  /** Half the pole's length (m). */
  length: 0.5,
  forceMag: 10.0,
  /** Seconds between state updates. */
  tau: 0.02,
  /** |θ| beyond this terminates: 12° in radians. */
  thetaThreshold: (12 * 2 * Math.PI) / 360,
  /** |x| beyond this terminates. */
  xThreshold: 2.4,
  /** The TimeLimit wrapper's cut-off. */
  maxSteps: 500,
} as const;

export type CartPoleState = Float64Array;

export interface CartPoleOptions {
  /** Truncate after this many steps (default 500, as CartPole-v1). */
  maxSteps?: number;
}

/**
 * One cart-pole. `reset` and `step` return copies of the state, so callers may keep them.
 * Stepping after the episode ended is an error (reset first), as in Gymnasium.
 */
export class CartPole implements Env<CartPoleState> {
  readonly name = "cartpole";
  readonly numActions = 2;
  /** Length of the observation vector. */
  readonly observationSize = 4;
  readonly maxSteps: number;
  #state = new Float64Array(4);
  #steps = 0;
  #done = true;

  constructor(opts: CartPoleOptions = {}) {
    this.maxSteps = opts.maxSteps ?? CARTPOLE.maxSteps;
    if (!(Number.isInteger(this.maxSteps) && this.maxSteps >= 1)) {
      throw new RangeError(`CartPole: maxSteps must be an integer >= 1, got ${opts.maxSteps}`);
    }
  }

  reset(rng: Rng): CartPoleState {
    for (let i = 0; i < 4; i++) this.#state[i] = -0.05 + 0.1 * rng.float();
    this.#steps = 0;
    this.#done = false;
    return this.#state.slice();
  }

  step(action: number, _rng: Rng): StepResult<CartPoleState> {
    if (this.#done) throw new Error("CartPole.step: the episode has ended; call reset() first");
    if (action !== 0 && action !== 1) throw new RangeError(`CartPole.step: action must be 0 or 1, got ${action}`);
    const { gravity, massCart, massPole, length, forceMag, tau } = CARTPOLE;
    const totalMass = massCart + massPole;
    const poleMassLength = massPole * length;
    const s = this.#state;
    const [x, xDot, theta, thetaDot] = [s[0]!, s[1]!, s[2]!, s[3]!];
    const force = action === 1 ? forceMag : -forceMag;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const temp = (force + poleMassLength * thetaDot * thetaDot * sin) / totalMass;
    const thetaAcc = (gravity * sin - cos * temp) / (length * (4 / 3 - (massPole * cos * cos) / totalMass));
    const xAcc = temp - (poleMassLength * thetaAcc * cos) / totalMass;
    // Explicit Euler (Gym's default "euler" integrator): positions use the old velocities.
    s[0] = x + tau * xDot;
    s[1] = xDot + tau * xAcc;
    s[2] = theta + tau * thetaDot;
    s[3] = thetaDot + tau * thetaAcc;
    this.#steps++;
    const terminated =
      s[0]! < -CARTPOLE.xThreshold ||
      s[0]! > CARTPOLE.xThreshold ||
      s[2]! < -CARTPOLE.thetaThreshold ||
      s[2]! > CARTPOLE.thetaThreshold;
    // Gymnasium's TimeLimit sets truncated at the limit even if the step also terminated;
    // consumers give `terminated` precedence (no bootstrap), so the order does not matter.
    const truncated = this.#steps >= this.maxSteps;
    this.#done = terminated || truncated;
    return { state: s.slice(), reward: 1, terminated, truncated };
  }

  /** Steps taken in the current episode. */
  get elapsedSteps(): number {
    return this.#steps;
  }
}
